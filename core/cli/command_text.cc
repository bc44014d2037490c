// modelgrow text make | encode | tokenize
//   make:     a small model of a text plugin's kind (its Maker: a tokenizer trained on a caption
//             corpus, weights from a seed, for the llm plugin optionally trained on the
//             captions), written as an ordinary Hugging Face folder the plugin then loads.
//   encode:   runs any text-encoder plugin on prompts and prints shapes and statistics.
//   tokenize: a model folder's tokenizer on texts, one JSON object per line.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/safetensors.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/sdk/text_tokenizer.h"
#include "modelgrow/text/text_cache.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {

constexpr const char* kUsage =
    "usage: modelgrow text <make|encode|tokenize> [options]   ('modelgrow text <subcommand> "
    "--help')\n"
    "  make      make a tiny model of a text plugin's kind from a caption corpus\n"
    "  encode    run a text-encoder plugin on prompts\n"
    "  tokenize  a model folder's tokenizer on texts (one JSON object per line)\n"
    "\nexample:\n"
    "  modelgrow text make --plugin t5 --corpus captions.txt --out models/tiny-t5\n"
    "  modelgrow text tokenize --model models/tiny-t5 --text 'a red circle'\n";

constexpr const char* kMakeUsage =
    "usage: modelgrow text make --plugin NAME --corpus FILE [--pairs FILE] --out DIR\n"
    "                           [--set key=value]... [--encoder-set key=value]... [--json]\n";
constexpr const char* kMakeExample =
    "example:\n"
    "  modelgrow text make --plugin t5 --corpus captions.txt --out models/tiny-t5 \\\n"
    "      --set d_model=64 --set layers=2 --set heads=4 --set seed=0\n"
    "  modelgrow text make --plugin llm --corpus captions.txt --out models/tiny-llm \\\n"
    "      --set type=llama --set vocab_size=384 --set train_steps=300 \\\n"
    "      --encoder-set max_length=128 --encoder-set 'template=Describe the video: {prompt}'\n"
    "  modelgrow text make --plugin llm --corpus captions.txt --pairs pairs.jsonl \\\n"
    "      --out models/tiny-rewriter --set train_steps=600 --set train_rewrite=true\n"
    "--pairs holds one {\"short\": ..., \"detailed\": ...} JSON object per line (rewriting).\n"
    "The --set keys are the plugin's `make` table (docs/text-encoders.md); --encoder-set keys are\n"
    "the encoder options the model must agree with (the llm plugin trains inside its template).\n";

constexpr const char* kTokenizeUsage =
    "usage: modelgrow text tokenize --model FOLDER [--no-special] --text TEXT [--text TEXT]...\n"
    "                               [--plugin NAME] [--tokenizer FILE]\n";
constexpr const char* kTokenizeExample =
    "example:\n"
    "  modelgrow text tokenize --model models/Meta-Llama-3-8B-Instruct --text 'Hello world'\n"
    "  {\"text\":\"Hello world\",\"ids\":[128000,9906,1917]}   (128000: <|begin_of_text|>)\n"
    "The folder's tokenizer.json is used when it has one, otherwise its SentencePiece model\n"
    "(whose tokenizer_config.json must say which special tokens it adds). Exit code 2 when the\n"
    "folder has no usable tokenizer.\n";

constexpr const char* kEncodeUsage =
    "usage: modelgrow text encode --plugin NAME (--prompt TEXT... | --prompts-file FILE)\n"
    "                             [--options FILE [--table PATH]] [--set key=value]...\n"
    "                             [--out FILE] [--cache-dir DIR] [--json]\n";
constexpr const char* kEncodeExample =
    "example:\n"
    "  modelgrow text encode --plugin t5 --set path=models/tiny-t5 --set max_length=32 \\\n"
    "      --prompt 'a red cube rolls left' --json\n";

po::variables_map Parse(const std::vector<std::string>& args, const po::options_description& desc) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  return vm;
}

bool WantsHelp(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--help") != args.end() ||
         std::find(args.begin(), args.end(), "-h") != args.end();
}

void PrintHelp(const char* usage, const po::options_description& desc, const char* example) {
  std::cout << usage << "\n" << desc << "\n" << example;
}

// A caption corpus: one caption per line; blank lines are skipped. InputError when the file is
// missing or holds no caption.
std::vector<std::string> ReadCorpus(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(fmt::format("caption corpus {} does not exist", file.string()));
  }
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    lines.push_back(line);
  }
  if (lines.empty()) {
    throw InputError(
        fmt::format("caption corpus {} holds no caption (one per line expected)", file.string()));
  }
  return lines;
}

// (short, detailed) caption pairs: one JSON object {"short": ..., "detailed": ...} per line.
std::vector<CaptionPair> ReadPairs(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(fmt::format("caption pairs file {} does not exist", file.string()));
  }
  std::ifstream in(file);
  std::vector<CaptionPair> pairs;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("short") || !j["short"].is_string() ||
        !j.contains("detailed") || !j["detailed"].is_string()) {
      throw InputError(
          fmt::format("{}:{}: expected a JSON object with string \"short\" and \"detailed\"",
                      file.string(), number));
    }
    pairs.push_back({j["short"].get<std::string>(), j["detailed"].get<std::string>()});
  }
  if (pairs.empty()) throw InputError(fmt::format("{} holds no caption pair", file.string()));
  return pairs;
}

// The registry of the default search path (with --plugin-path first).
std::unique_ptr<PluginRegistry> LoadRegistry(const GlobalOptions& global) {
  auto registry = std::make_unique<PluginRegistry>();
  registry->LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  return registry;
}

int RunMake(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string plugin, corpus, pairs_file, out;
  std::vector<std::string> sets, encoder_sets;
  po::options_description desc(
      "modelgrow text make: a tiny model of a text plugin's kind, made by the plugin's Maker from\n"
      "a caption corpus and written whole (atomically) as a Hugging Face folder\noptions");
  desc.add_options()("help,h", "show this help")(
      "plugin", po::value<std::string>(&plugin)->required(),
      "the text plugin whose kind of model to make (t5, llm; `modelgrow plugins --kind text`)")(
      "corpus", po::value<std::string>(&corpus)->required(),
      "captions, one per line (blank lines skipped)")(
      "pairs", po::value<std::string>(&pairs_file),
      "(short, detailed) caption pairs for rewriting: one JSON object per line")(
      "out", po::value<std::string>(&out)->required(), "the folder to write (replaced whole)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "key=value of the plugin's `make` table (repeatable; value parsed as TOML, else a string)")(
      "encoder-set", po::value<std::vector<std::string>>(&encoder_sets)->composing(),
      "key=value of the encoder's own table, e.g. template or max_length (repeatable)")(
      "json", "print the Maker's facts as JSON");
  if (WantsHelp(args)) {
    PrintHelp(kMakeUsage, desc, kMakeExample);
    return 0;
  }
  po::variables_map vm = Parse(args, desc);

  for (const std::string& s : encoder_sets) {
    if (s.find('=') == std::string::npos || s.front() == '=') {
      throw UsageError(fmt::format("--encoder-set expects key=value, got '{}'", s));
    }
  }
  Options make = Options::Empty("--set");
  ApplySets(make, sets);
  Options encoder_options = Options::Empty("--encoder-set");
  ApplySets(encoder_options, encoder_sets);
  std::unique_ptr<PluginRegistry> registry = LoadRegistry(global);
  // Both tables are checked before anything is made, and their problems reported together. The
  // encoder is constructed (not loaded) for the folder to be made, so a misspelt --encoder-set is
  // reported as the encoder would report it instead of being ignored.
  std::vector<Problem> problems;
  Options as_encoder = encoder_options.Clone();
  as_encoder.Set("path", nlohmann::json(out).dump());
  PluginContext encoder_context;
  encoder_context.options = as_encoder;
  try {
    registry->MakeTextEncoder(plugin, encoder_context);
  } catch (const ValidationError& e) {
    problems.insert(problems.end(), e.problems().begin(), e.problems().end());
  }
  PluginContext context;
  context.options = make;
  std::shared_ptr<TextModelMaker> maker;
  try {
    maker = registry->MakeTextModelMaker(plugin, context, encoder_options);
  } catch (const ValidationError& e) {
    problems.insert(problems.end(), e.problems().begin(), e.problems().end());
  }
  if (!problems.empty()) throw ValidationError(std::move(problems));
  TextCorpus text_corpus;
  text_corpus.captions = ReadCorpus(corpus);
  if (!pairs_file.empty()) text_corpus.pairs = ReadPairs(pairs_file);
  const std::vector<std::string>& captions = text_corpus.captions;
  auto start = std::chrono::steady_clock::now();
  nlohmann::json facts = maker->Make(text_corpus, out, std::cerr);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (vm.count("json")) {
    std::cout << facts.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("wrote {} ({} model from {} captions in {:.1f} s): {}\n", out, plugin,
                           captions.size(), seconds, facts.dump());
  return 0;
}

int RunEncode(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string plugin, options_file, table, out, cache_dir, prompts_file;
  std::vector<std::string> sets, prompts;
  po::options_description desc(
      "modelgrow text encode: run a text-encoder plugin on prompts and print what comes out\n"
      "options");
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
  if (WantsHelp(args)) {
    PrintHelp(kEncodeUsage, desc, kEncodeExample);
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
  ApplySets(options, sets);

  std::unique_ptr<PluginRegistry> registry = LoadRegistry(global);
  PluginContext context{options, {}, c10::Device(c10::DeviceType::CPU), 0};
  std::shared_ptr<TextEncoder> encoder = registry->MakeTextEncoder(plugin, context);
  encoder->Load();

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

int RunTokenize(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string model, plugin, tokenizer_file;
  std::vector<std::string> texts;
  po::options_description desc(
      "modelgrow text tokenize: a model folder's tokenizer, as Hugging Face's tokenizer(text)\n"
      "options");
  desc.add_options()("help,h", "show this help")(
      "model", po::value<std::string>(&model)->required(), "the model folder")(
      "text", po::value<std::vector<std::string>>(&texts)->composing(),
      "a text to tokenize (repeatable)")("no-special",
                                         "add no special tokens (add_special_tokens=False)")(
      "tokenizer", po::value<std::string>(&tokenizer_file),
      "a tokenizer.json or SentencePiece file to use instead of the folder's")(
      "plugin", po::value<std::string>(&plugin),
      "the text plugin whose tokenizer to use (default: the first that has one)");
  if (WantsHelp(args)) {
    PrintHelp(kTokenizeUsage, desc, kTokenizeExample);
    return 0;
  }
  po::variables_map vm = Parse(args, desc);
  if (texts.empty()) throw UsageError("text tokenize: give at least one --text");
  std::unique_ptr<PluginRegistry> registry = LoadRegistry(global);
  if (plugin.empty()) {
    for (const PluginInfo& info : registry->List(PluginKind::kText)) {
      if (info.has_tokenizer) {
        plugin = info.name;
        break;
      }
    }
    if (plugin.empty()) {
      throw InputError("no text plugin on the plugin search path offers a tokenizer");
    }
  }
  Options options = Options::Empty("text tokenize");
  options.Set("path", nlohmann::json(model).dump());
  if (!tokenizer_file.empty()) options.Set("tokenizer", nlohmann::json(tokenizer_file).dump());
  PluginContext context;
  context.options = options;
  std::shared_ptr<TextTokenizer> tokenizer = registry->MakeTextTokenizer(plugin, context);
  tokenizer->Load();
  const bool special = !vm.count("no-special");
  for (const std::string& text : texts) {
    // Invalid UTF-8 in a text is replaced in the echo, never in what is tokenised.
    std::cout << nlohmann::ordered_json{{"text", text}, {"ids", tokenizer->Encode(text, special)}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  return 0;
}

int RunText(const std::vector<std::string>& args, const GlobalOptions& global) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "make") return RunMake(rest, global);
  if (args[0] == "encode") return RunEncode(rest, global);
  if (args[0] == "tokenize") return RunTokenize(rest, global);
  if (args[0] == "make-tiny" || args[0] == "train-llm") {
    throw UsageError(
        fmt::format("text {}: replaced by 'modelgrow text make --plugin t5|llm' (train with --set "
                    "train_steps=N)\n{}",
                    args[0], kUsage));
  }
  throw UsageError(fmt::format("text: unknown subcommand '{}'\n{}", args[0], kUsage));
}

}  // namespace

MODELGROW_CLI_COMMAND(kTextCommand, {"text",
                                     "text encoders: make tiny models for a plugin, encode "
                                     "prompts, tokenize",
                                     RunText, 40});

}  // namespace modelgrow::cli
