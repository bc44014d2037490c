#include "modelgrow/host/plugin_registry.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/dll/shared_library.hpp>

#include "modelgrow/growth/grow.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/prompt_rewriter.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/sdk/text_tokenizer.h"
#include "modelgrow/sdk/video_autoencoder.h"

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

const char* KindNoun(PluginKind kind) {
  switch (kind) {
    case PluginKind::kGrowth:
      return "growth operator";
    case PluginKind::kText:
      return "text encoder";
    case PluginKind::kData:
      return "data pipeline";
    case PluginKind::kVae:
      return "video autoencoder";
  }
  return "plugin";
}

}  // namespace

struct PluginRegistry::Loaded {
  PluginInfo info;
  std::shared_ptr<boost::dll::shared_library> library;
  const PluginDescriptor* descriptor = nullptr;
};

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

fs::path ExecutableDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::vector<fs::path> PluginRegistry::SearchPath(const std::vector<fs::path>& extra) {
  std::vector<fs::path> paths(extra.begin(), extra.end());
  if (const char* env = std::getenv("MODELGROW_PLUGIN_PATH"); env != nullptr) {
    std::stringstream list(env);
    std::string item;
    while (std::getline(list, item, ':')) {
      if (!item.empty()) paths.emplace_back(item);
    }
  }
  fs::path own = ExecutableDir() / MODELGROW_PLUGIN_DIR_FROM_BIN;
  std::error_code ec;
  if (fs::is_directory(own, ec)) paths.push_back(fs::weakly_canonical(own));
  return paths;
}

void PluginRegistry::LoadFrom(const std::vector<fs::path>& paths) {
  for (const fs::path& path : paths) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
      LoadFile(path);
      continue;
    }
    if (!fs::is_directory(path, ec)) {
      throw InputError(
          fmt::format("plugin path '{}' is neither a folder nor a file", path.string()));
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file() && entry.path().extension() == ".so")
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) LoadFile(file);
  }
}

void PluginRegistry::LoadFile(const fs::path& file_in) {
  fs::path file = fs::weakly_canonical(file_in);
  // The same file reached through two search-path entries is one plugin, not a clash.
  for (const auto& l : loaded_) {
    if (l->info.file == file) return;
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(file.string(), boost::dll::load_mode::rtld_lazy);
  } catch (const std::exception& e) {
    throw InputError(
        fmt::format("{}: not a loadable shared library ({})", file.string(), e.what()));
  }
  if (!library->has("modelgrow_plugin_api_version") ||
      !library->has("modelgrow_plugin_descriptor")) {
    throw InputError(fmt::format(
        "{}: not a ModelGrow plugin (it exports no modelgrow_plugin_descriptor; a plugin "
        "declares one with MODELGROW_GROWTH_OPERATOR, MODELGROW_TEXT_ENCODER, "
        "MODELGROW_DATA_PIPELINE or MODELGROW_VIDEO_AUTOENCODER)",
        file.string()));
  }
  // The plugin's own code runs from here on: whatever it throws is reported as its defect, naming
  // the file, and the host carries on without it.
  auto call = [&](const char* what, auto&& function) {
    try {
      return function();
    } catch (const std::exception& e) {
      throw InputError(fmt::format("{}: {} threw: {}", file.string(), what, e.what()));
    } catch (...) {
      throw InputError(
          fmt::format("{}: {} threw an exception of unknown type", file.string(), what));
    }
  };
  int api = call("modelgrow_plugin_api_version()",
                 [&] { return library->get<int()>("modelgrow_plugin_api_version")(); });
  if (api != kSdkApiVersion) {
    throw InputError(fmt::format(
        "{}: built for plugin SDK API version {}, but this ModelGrow speaks version {}; rebuild "
        "the plugin against this installation",
        file.string(), api, kSdkApiVersion));
  }
  const PluginDescriptor* d = call("modelgrow_plugin_descriptor()", [&] {
    return library->get<const PluginDescriptor*()>("modelgrow_plugin_descriptor")();
  });
  if (d == nullptr)
    throw InputError(fmt::format("{}: its plugin descriptor is null", file.string()));
  if (d->name == nullptr || std::string(d->name).empty()) {
    throw InputError(fmt::format("{}: its plugin descriptor has no name", file.string()));
  }
  if (d->api_version != kSdkApiVersion) {
    throw InputError(fmt::format(
        "{}: plugin '{}' has a descriptor of SDK API version {}, but the library reports {}",
        file.string(), d->name, d->api_version, api));
  }
  const int kind = static_cast<int>(d->kind);
  if (kind < static_cast<int>(PluginKind::kGrowth) || kind > static_cast<int>(PluginKind::kVae)) {
    throw InputError(
        fmt::format("{}: plugin '{}' declares an unknown kind ({})", file.string(), d->name, kind));
  }
  bool factory_ok = (d->kind == PluginKind::kGrowth && d->make_growth_operator) ||
                    (d->kind == PluginKind::kText && d->make_text_encoder) ||
                    (d->kind == PluginKind::kData && d->make_data_pipeline) ||
                    (d->kind == PluginKind::kVae && d->make_video_autoencoder);
  if (!factory_ok) {
    throw InputError(fmt::format("{}: plugin '{}' has no factory for its kind '{}'", file.string(),
                                 d->name, PluginKindName(d->kind)));
  }
  for (const auto& l : loaded_) {
    if (l->info.kind == d->kind && l->info.name == d->name) {
      throw InputError(fmt::format("two {} plugins are named '{}': {} and {}",
                                   PluginKindName(d->kind), d->name, l->info.file.string(),
                                   file.string()));
    }
  }
  auto loaded = std::make_unique<Loaded>();
  loaded->info = {d->kind,
                  d->name,
                  d->version ? d->version : "",
                  d->summary ? d->summary : "",
                  file,
                  d->examples ? d->examples : "",
                  d->kind == PluginKind::kText && d->make_text_model != nullptr,
                  d->kind == PluginKind::kText && d->make_text_tokenizer != nullptr,
                  d->kind == PluginKind::kText && d->make_prompt_rewriter != nullptr};
  loaded->library = library;
  loaded->descriptor = d;
  loaded_.push_back(std::move(loaded));
}

std::vector<PluginInfo> PluginRegistry::List() const {
  std::vector<PluginInfo> out;
  for (const auto& l : loaded_) out.push_back(l->info);
  std::sort(out.begin(), out.end(), [](const PluginInfo& a, const PluginInfo& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return out;
}

std::vector<PluginInfo> PluginRegistry::List(PluginKind kind) const {
  std::vector<PluginInfo> out;
  for (const PluginInfo& info : List()) {
    if (info.kind == kind) out.push_back(info);
  }
  return out;
}

const PluginRegistry::Loaded& PluginRegistry::FindLoaded(PluginKind kind,
                                                         const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& l : loaded_) {
    if (l->info.kind != kind) continue;
    if (l->info.name == name) return *l;
    names.push_back(l->info.name);
  }
  std::sort(names.begin(), names.end());
  std::string list =
      names.empty() ? "none are loaded" : "available: " + fmt::format("{}", fmt::join(names, ", "));
  std::string hint = SuggestClosest(name, names);
  throw InputError(fmt::format("no {} plugin named '{}' ({}){}", PluginKindName(kind), name, list,
                               hint.empty() ? "" : "; " + hint));
}

const PluginInfo& PluginRegistry::Find(PluginKind kind, const std::string& name) const {
  return FindLoaded(kind, name).info;
}

namespace {

// Runs a plugin's factory; turns option problems into one error that names the plugin.
template <typename T, typename Factory>
std::shared_ptr<T> Instantiate(const PluginInfo& info,
                               const std::shared_ptr<boost::dll::shared_library>& library,
                               Factory factory, const PluginContext& context) {
  std::unique_ptr<T> object;
  std::string who = fmt::format("{} '{}'", KindNoun(info.kind), info.name);
  try {
    object = factory(context);
    context.options.RejectUnknownKeys();
    context.options.ThrowIfProblems();
  } catch (const ValidationError& e) {
    std::vector<Problem> problems = e.problems();
    for (Problem& p : problems) p.message = fmt::format("{}: {}", who, p.message);
    throw ValidationError(std::move(problems));
  } catch (const InputError& e) {
    throw InputError(fmt::format("{} ({}): {}", who, context.options.KeyPath(""), e.what()));
  } catch (const std::exception& e) {
    // Not an option problem: a defect of the plugin. The host survives it and says whose it is.
    throw RunError(fmt::format("{} ({}) failed while being constructed: {}", who,
                               info.file.string(), e.what()));
  } catch (...) {
    throw RunError(
        fmt::format("{} ({}) failed while being constructed: it threw an exception of "
                    "unknown type",
                    who, info.file.string()));
  }
  if (object == nullptr) {
    throw RunError(fmt::format("{} ({}): its factory returned nothing", who, info.file.string()));
  }
  // The instance keeps its library loaded for as long as it lives.
  T* raw = object.release();
  return std::shared_ptr<T>(raw, [library](T* p) { delete p; });
}

}  // namespace

std::shared_ptr<GrowthOperator> PluginRegistry::MakeGrowthOperator(
    const std::string& name, const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kGrowth, name);
  return Instantiate<GrowthOperator>(l.info, l.library, l.descriptor->make_growth_operator,
                                     context);
}

std::shared_ptr<TextEncoder> PluginRegistry::MakeTextEncoder(const std::string& name,
                                                             const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kText, name);
  return Instantiate<TextEncoder>(l.info, l.library, l.descriptor->make_text_encoder, context);
}

std::shared_ptr<DataPipeline> PluginRegistry::MakeDataPipeline(const std::string& name,
                                                               const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kData, name);
  return Instantiate<DataPipeline>(l.info, l.library, l.descriptor->make_data_pipeline, context);
}

std::shared_ptr<VideoAutoencoder> PluginRegistry::MakeVideoAutoencoder(
    const std::string& name, const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kVae, name);
  return Instantiate<VideoAutoencoder>(l.info, l.library, l.descriptor->make_video_autoencoder,
                                       context);
}

std::shared_ptr<TextModelMaker> PluginRegistry::MakeTextModelMaker(
    const std::string& name, const PluginContext& context, const Options& encoder_options) const {
  const Loaded& l = FindLoaded(PluginKind::kText, name);
  if (l.descriptor->make_text_model == nullptr) {
    throw InputError(fmt::format(
        "text encoder '{}' cannot make models (`make` needs a plugin that declares a Maker; {} "
        "does not)",
        name, l.info.file.string()));
  }
  auto factory = [&](const PluginContext& c) {
    return l.descriptor->make_text_model(c, encoder_options);
  };
  PluginInfo info = l.info;
  info.name += " (make)";
  return Instantiate<TextModelMaker>(info, l.library, factory, context);
}

std::shared_ptr<TextTokenizer> PluginRegistry::MakeTextTokenizer(
    const std::string& name, const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kText, name);
  if (l.descriptor->make_text_tokenizer == nullptr) {
    throw InputError(
        fmt::format("text plugin '{}' ({}) offers no tokenizer", name, l.info.file.string()));
  }
  PluginInfo info = l.info;
  info.name += " (tokenizer)";
  return Instantiate<TextTokenizer>(info, l.library, l.descriptor->make_text_tokenizer, context);
}

std::shared_ptr<PromptRewriter> PluginRegistry::MakePromptRewriter(
    const std::string& name, const PluginContext& context) const {
  const Loaded& l = FindLoaded(PluginKind::kText, name);
  if (l.descriptor->make_prompt_rewriter == nullptr) {
    throw InputError(
        fmt::format("text plugin '{}' ({}) cannot rewrite prompts (it declares no Rewriter)", name,
                    l.info.file.string()));
  }
  PluginInfo info = l.info;
  info.name += " (rewriter)";
  return Instantiate<PromptRewriter>(info, l.library, l.descriptor->make_prompt_rewriter, context);
}

std::vector<GrowthStep> MakeGrowthSteps(const PluginRegistry& registry,
                                        const std::vector<std::pair<std::string, Options>>& ops,
                                        c10::Device device) {
  std::vector<GrowthStep> steps;
  std::vector<Problem> problems;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& [name, options] = ops[i];
    PluginContext context;
    context.options = options;
    context.device = device;
    try {
      steps.push_back({name, options, registry.MakeGrowthOperator(name, context)});
    } catch (const ValidationError& e) {
      for (const Problem& p : e.problems()) problems.push_back(p);
    } catch (const InputError& e) {
      problems.push_back({options.Position(), options.KeyPath(""),
                          fmt::format("grow step {} ('{}'): {}", i + 1, name, e.what())});
    }
  }
  if (!problems.empty()) throw ValidationError(std::move(problems));
  return steps;
}

}  // namespace modelgrow
