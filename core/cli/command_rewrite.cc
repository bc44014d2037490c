// modelgrow rewrite --model FOLDER --prompt "a red circle moves left"
//   A generative text model (an llm folder with a chat template) rewrites short prompts into
//   detailed ones, as the paper's inference pipeline does before sampling.
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "command_line.h"
#include "commands.h"
#include "modelgrow/host/plugin_registry.h"
#include "rewriter_choice.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunRewrite(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(
      args,
      {"rewrite --model FOLDER --prompt TEXT [--prompt TEXT]... [--set key=value]... [--json]",
       "Rewrites short prompts into detailed ones with a generative text model (an llm folder "
       "with a chat template), as the paper's inference pipeline does before sampling. The --set "
       "keys are the rewriter's options (docs/text-encoders.md): max_new_tokens, temperature, "
       "top_p, seed, stop_tokens, system_prompt, chat_template, dtype, device.",
       "modelgrow rewrite --model runs/language/cache/text-rewriter-*/model \\\n"
       "    --prompt 'a red circle moves left'\n"
       "modelgrow rewrite --model models/Meta-Llama-3-8B-Instruct --set temperature=0.7 \\\n"
       "    --set top_p=0.9 --set seed=1 --set max_new_tokens=200 --prompt 'a cat' --json"});
  std::string model, plugin;
  std::vector<std::string> prompts, sets;
  cl.Options()("model", po::value<std::string>(&model), "the model folder (with a chat template)")(
      "prompt", po::value<std::vector<std::string>>(&prompts)->composing(),
      "a prompt to rewrite (repeatable)")(
      "rewrite-plugin", po::value<std::string>(&plugin),
      "the text plugin that rewrites (default: the only one that can)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "key=value of the rewriter's options (repeatable)")(
      "json", "one JSON object per prompt, with token counts and speed");
  if (!cl.Parse()) return 0;
  if (model.empty() || prompts.empty()) throw UsageError("rewrite needs --model and --prompt");
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  auto rewriter = MakeRewriter(registry, model, plugin, sets, c10::Device(c10::DeviceType::CPU));
  for (const std::string& prompt : prompts) {
    RewriteResult r = rewriter->Rewrite(prompt);
    const double rate = r.seconds > 0 ? static_cast<double>(r.new_tokens) / r.seconds : 0.0;
    if (cl.Has("json")) {
      std::cout << nlohmann::json{{"prompt", prompt},
                                  {"rewritten", r.text},
                                  {"prompt_tokens", r.prompt_tokens},
                                  {"new_tokens", r.new_tokens},
                                  {"stopped", r.stopped},
                                  {"seconds", r.seconds},
                                  {"tokens_per_second", rate}}
                       .dump()
                << "\n";
    } else {
      std::cout << r.text << "\n";
      std::cerr << fmt::format("rewrite: {} -> {} new tokens{} in {:.3f} s ({:.0f} tokens/s)\n",
                               r.prompt_tokens, r.new_tokens,
                               r.stopped ? "" : " (token budget reached)", r.seconds, rate);
    }
  }
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kRewriteCommand,
                      {"rewrite", "rewrite short prompts into detailed ones with an LLM",
                       RunRewrite, 45});

}  // namespace modelgrow::cli
