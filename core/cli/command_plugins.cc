// modelgrow plugins [--kind growth|text|data|vae] [--json]
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "command_line.h"
#include "commands.h"
#include "modelgrow/host/plugin_registry.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {

// The plugin's example option tables as JSON (what `modelgrow plugins --json` shows users).
nlohmann::json Examples(const PluginInfo& p) {
  nlohmann::json out = nlohmann::json::array();
  if (p.examples.empty()) return out;
  Options doc = Options::ParseString(p.examples, p.file.string() + " (examples)");
  for (const Options& example : doc.TableArray("example")) {
    out.push_back(nlohmann::json::parse(example.ToJson(), nullptr, /*allow_exceptions=*/false));
  }
  return out;
}

int RunPlugins(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(args, {"plugins [--kind growth|text|data] [--json]",
                        "Lists the plugins found on the search path (--plugin-path folders, then "
                        "MODELGROW_PLUGIN_PATH, then the install's own), with their versions and "
                        "summaries; --json adds each plugin's example option tables.",
                        "modelgrow plugins\nmodelgrow --plugin-path build/my_ops plugins --kind "
                        "growth --json"});
  std::string kind;
  cl.Options()("kind", po::value<std::string>(&kind), "only this kind: growth, text, data or vae")(
      "json", "print JSON (kind, name, version, summary, file, examples)");
  if (!cl.Parse()) return 0;
  const po::variables_map& vm = cl.vm();
  std::optional<PluginKind> filter;
  if (!kind.empty()) {
    if (kind == "growth")
      filter = PluginKind::kGrowth;
    else if (kind == "text")
      filter = PluginKind::kText;
    else if (kind == "data")
      filter = PluginKind::kData;
    else if (kind == "vae")
      filter = PluginKind::kVae;
    else
      throw UsageError(fmt::format("--kind must be growth, text, data or vae, not '{}'", kind));
  }

  PluginRegistry registry;
  std::vector<std::filesystem::path> path = PluginRegistry::SearchPath(global.plugin_paths);
  registry.LoadFrom(path);
  std::vector<PluginInfo> plugins = filter ? registry.List(*filter) : registry.List();

  if (vm.count("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const PluginInfo& p : plugins) {
      out.push_back({{"kind", PluginKindName(p.kind)},
                     {"name", p.name},
                     {"version", p.version},
                     {"summary", p.summary},
                     {"file", p.file.string()},
                     {"examples", Examples(p)},
                     {"makes_text_models", p.makes_text_models},
                     {"has_tokenizer", p.has_tokenizer},
                     {"rewrites_prompts", p.rewrites_prompts}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (plugins.empty()) {
    std::cout << "no plugins found; searched:\n";
    for (const auto& p : path) std::cout << "  " << p.string() << "\n";
    return 0;
  }
  size_t name_width = 4;
  for (const PluginInfo& p : plugins) name_width = std::max(name_width, p.name.size());
  std::cout << fmt::format("{:<7} {:<{}} {:<8} {}\n", "KIND", "NAME", name_width, "VERSION",
                           "SUMMARY / FILE");
  for (const PluginInfo& p : plugins) {
    std::cout << fmt::format("{:<7} {:<{}} {:<8} {}\n", PluginKindName(p.kind), p.name, name_width,
                             p.version, p.summary);
    std::cout << fmt::format("{:<7} {:<{}} {:<8} {}\n", "", "", name_width, "", p.file.string());
  }
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kPluginsCommand,
                      {"plugins",
                       "list the growth operators, text encoders and data pipelines found",
                       RunPlugins, 10});

}  // namespace modelgrow::cli
