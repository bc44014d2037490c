// modelgrow text make-tiny | train-llm | encode
//   make-tiny: a tiny T5 / Llama / Qwen2 Hugging Face folder with a SentencePiece tokenizer
//              trained on a caption corpus (for experiments on a CPU).
//   train-llm: next-token training of a tiny decoder on the corpus.
//   encode:    runs any text-encoder plugin on prompts and prints shapes and statistics.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "modelgrow/base/options.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/io/safetensors.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/llm_trainer.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/text/tiny_models.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {

constexpr const char* kUsage =
    "usage: modelgrow text <make-tiny|train-llm|encode> [options]   ('--help' after each)\n";

po::variables_map Parse(const std::vector<std::string>& args, const po::options_description& desc) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  return vm;
}

int RunMakeTiny(const std::vector<std::string>& args) {
  TinyEncoderOptions o;
  std::string corpus, out;
  uint64_t seed = 0;
  po::options_description desc(
      "modelgrow text make-tiny: a tiny Hugging Face encoder folder with a SentencePiece "
      "tokenizer trained on a caption corpus");
  desc.add_options()("help,h", "show this help")(
      "type", po::value<std::string>(&o.type)->default_value(o.type), "t5, llama or qwen2")(
      "corpus", po::value<std::string>(&corpus)->required(), "captions, one per line")(
      "out", po::value<std::string>(&out)->required(), "the folder to write (replaced whole)")(
      "vocab-size", po::value<int64_t>(&o.vocab_size)->default_value(o.vocab_size),
      "SentencePiece vocabulary (fewer if the corpus is too small)")(
      "tokenizer-type", po::value<std::string>(&o.tokenizer_type)->default_value(o.tokenizer_type),
      "unigram or bpe")("d-model", po::value<int64_t>(&o.d_model)->default_value(o.d_model),
                        "hidden width")(
      "layers", po::value<int64_t>(&o.layers)->default_value(o.layers), "layers")(
      "heads", po::value<int64_t>(&o.heads)->default_value(o.heads), "attention heads")(
      "kv-heads", po::value<int64_t>(&o.kv_heads)->default_value(o.kv_heads),
      "key/value heads (llama, qwen2)")(
      "d-ff", po::value<int64_t>(&o.d_ff)->default_value(0),
      "feed-forward width (0: 2 x d-model for t5, ~8/3 x for llama/qwen2)")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "seed of the weights")(
      "json", "print the result as JSON");
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << desc;
    return 0;
  }
  po::variables_map vm = Parse(args, desc);
  o.corpus = corpus;
  o.out = out;
  o.seed = seed;
  TinyEncoderResult result = MakeTinyEncoder(o);
  if (vm.count("json")) {
    std::cout << result.ToJson().dump(2) << "\n";
  } else {
    std::cout << fmt::format("wrote {} ({}: {} parameters, vocabulary {})\n",
                             result.folder.string(), o.type, result.parameters, result.vocab_size);
  }
  return 0;
}

int RunTrainLlm(const std::vector<std::string>& args) {
  LlmTrainOptions o;
  std::string model, corpus, out;
  po::options_description desc(
      "modelgrow text train-llm: teach a tiny decoder the corpus's language (next-token loss, "
      "AdamW)");
  desc.add_options()("help,h", "show this help")(
      "model", po::value<std::string>(&model)->required(), "the decoder folder (make-tiny)")(
      "corpus", po::value<std::string>(&corpus)->required(), "captions, one per line")(
      "out", po::value<std::string>(&out)->required(), "the trained folder to write")(
      "steps", po::value<int64_t>(&o.steps)->default_value(o.steps), "optimizer steps")(
      "lr", po::value<double>(&o.lr)->default_value(o.lr), "peak learning rate")(
      "batch-size", po::value<int64_t>(&o.batch_size)->default_value(o.batch_size),
      "captions per step")("max-length",
                           po::value<int64_t>(&o.max_length)->default_value(o.max_length),
                           "tokens per caption")(
      "weight-decay", po::value<double>(&o.weight_decay)->default_value(o.weight_decay),
      "AdamW weight decay")("seed", po::value<uint64_t>(&o.seed)->default_value(0),
                            "seed of the batch order")(
      "log-every", po::value<int64_t>(&o.log_every)->default_value(o.log_every),
      "steps per progress line when stderr is not a terminal")(
      "template", po::value<std::string>(&o.text_template)->default_value(o.text_template),
      "text around each caption ({prompt} marks it)")("json", "print the report as JSON");
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << desc;
    return 0;
  }
  po::variables_map vm = Parse(args, desc);
  o.model = model;
  o.corpus = corpus;
  o.out = out;
  LlmTrainReport report = TrainTinyLlm(o, std::cerr, ::isatty(STDERR_FILENO) != 0);
  if (vm.count("json")) {
    std::cout << report.ToJson().dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "wrote {}: loss {:.4f} -> {:.4f} in {} steps ({:.1f} s, {:.1f} steps/s)\n",
        report.out.string(), report.loss_before, report.loss_after, report.steps, report.seconds,
        report.steps_per_second);
  }
  return 0;
}

int RunEncode(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string plugin, options_file, table, out, cache_dir, prompts_file;
  std::vector<std::string> sets, prompts;
  po::options_description desc(
      "modelgrow text encode: run a text-encoder plugin on prompts and print what comes out");
  desc.add_options()("help,h", "show this help")(
      "plugin", po::value<std::string>(&plugin)->required(), "t5, llm, precomputed, ...")(
      "options", po::value<std::string>(&options_file),
      "a TOML file holding the plugin's table (e.g. a manifest)")(
      "table", po::value<std::string>(&table),
      "dotted path of the plugin's table inside --options (default: the whole file)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "key=value for the plugin's table (repeatable; after --options)")(
      "prompt", po::value<std::vector<std::string>>(&prompts)->composing(),
      "a prompt (repeatable)")("prompts-file", po::value<std::string>(&prompts_file),
                               "prompts, one per line")(
      "out", po::value<std::string>(&out), "write embedding, mask (and prompts) as safetensors")(
      "cache-dir", po::value<std::string>(&cache_dir), "use the host's disk text cache here")(
      "json", "print JSON");
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << desc;
    return 0;
  }
  po::variables_map vm = Parse(args, desc);
  if (!prompts_file.empty()) {
    for (std::string& p : ReadCorpus(prompts_file)) prompts.push_back(std::move(p));
  }
  if (prompts.empty()) throw UsageError("text encode: give --prompt or --prompts-file");

  Options document =
      options_file.empty() ? Options::Empty("--set") : Options::ParseFile(options_file);
  Options options = document;
  if (!table.empty()) {
    if (!document.HasPath(table)) {
      throw InputError(fmt::format("{} has no table '{}'", options_file, table));
    }
    options = document.AtPath(table);
  }
  for (const std::string& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(fmt::format("--set '{}': expected key=value", s));
    }
    options.Set(s.substr(0, eq), s.substr(eq + 1));
  }
  options.ThrowIfProblems();

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  PluginContext context{options, {}, c10::Device(c10::DeviceType::CPU), 0};
  std::shared_ptr<TextEncoder> encoder = registry.MakeTextEncoder(plugin, context);

  TextEncoderCache cache(encoder, cache_dir);
  auto start = std::chrono::steady_clock::now();
  TextEncoding encoding = cache.Encode(prompts);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json report = {{"plugin", plugin},
                           {"cache_key", encoder->CacheKey()},
                           {"dim", encoder->dim()},
                           {"max_length", encoder->max_length()},
                           {"embedding_shape", encoding.embedding.sizes().vec()},
                           {"mask_shape", encoding.mask.sizes().vec()},
                           {"seconds", seconds},
                           {"cache_hits", cache.hits()},
                           {"describe", encoder->Describe()},
                           {"prompts", nlohmann::json::array()}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    at::Tensor m = encoding.mask[i];
    at::Tensor real = encoding.embedding[i].index({m});
    report["prompts"].push_back({{"prompt", prompts[i]},
                                 {"tokens", m.sum().item<int64_t>()},
                                 {"mean", real.mean().item<double>()},
                                 {"std", real.numel() > 1 ? real.std().item<double>() : 0.0},
                                 {"min", real.min().item<double>()},
                                 {"max", real.max().item<double>()}});
  }
  if (!out.empty()) {
    nlohmann::json list = prompts;
    WriteSafetensors(out, {{"embedding", encoding.embedding}, {"mask", encoding.mask}},
                     {{"prompts", list.dump()}, {"cache_key", encoder->CacheKey()}});
  }
  if (vm.count("json")) {
    std::cout << report.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("{} ({}): dim {}, max_length {}; embedding [{}, {}, {}], {:.3f} s\n",
                           plugin, encoder->CacheKey(), encoder->dim(), encoder->max_length(),
                           encoding.embedding.size(0), encoding.embedding.size(1),
                           encoding.embedding.size(2), seconds);
  for (const auto& p : report["prompts"]) {
    std::cout << fmt::format(
        "  {:>4} tokens  mean {:+.4f}  std {:.4f}  min {:+.3f}  max {:+.3f}  "
        "\"{}\"\n",
        p["tokens"].get<int64_t>(), p["mean"].get<double>(), p["std"].get<double>(),
        p["min"].get<double>(), p["max"].get<double>(), p["prompt"].get<std::string>());
  }
  std::cout << report["describe"].dump() << "\n";
  if (!out.empty()) std::cout << "wrote " << out << "\n";
  return 0;
}

int RunText(const std::vector<std::string>& args, const GlobalOptions& global) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "make-tiny") return RunMakeTiny(rest);
  if (args[0] == "train-llm") return RunTrainLlm(rest);
  if (args[0] == "encode") return RunEncode(rest, global);
  throw UsageError(fmt::format("text: unknown subcommand '{}'\n{}", args[0], kUsage));
}

}  // namespace

MODELGROW_CLI_COMMAND(kTextCommand, {"text",
                                     "text encoders: make tiny ones, train a tiny LLM, encode "
                                     "prompts",
                                     RunText, 40});

}  // namespace modelgrow::cli
