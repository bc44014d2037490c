// modelgrow dataset export|info|show: write any data pipeline into HDF5 shards, describe shards,
// print samples.
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "modelgrow/data/export.h"
#include "modelgrow/data/shard_paths.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/sdk/text_encoder.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {

const char kUsage[] =
    "usage: modelgrow dataset export --plugin NAME [--set KEY=VALUE]... --out DIR [--vae FOLDER]\n"
    "                                [--resume] [options]\n"
    "       modelgrow dataset info PATH... [--json]\n"
    "       modelgrow dataset show --plugin NAME [--set KEY=VALUE]... [--index I] [--count N]\n"
    "\n"
    "A pipeline's options come from --set pairs (TOML values: --set domain=continual --set "
    "size=1000),\nfrom a TOML table (--options FILE [--table dotted.path]; a 'plugin' key there "
    "names the plugin),\nor both (--set wins).\n";

const char kExamples[] =
    "example:\n"
    "  modelgrow dataset export --plugin synthetic --set domain=continual --set size=1000 \\\n"
    "      --out shards/continual\n"
    "  modelgrow dataset export --options data.toml --table data.clips --vae models/vae \\\n"
    "      --out latents --resume\n"
    "  modelgrow dataset info shards/continual\n";

std::pair<std::string, std::string> SplitAssignment(const std::string& text, const char* flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(fmt::format("{} expects KEY=VALUE, got '{}'", flag, text));
  return {text.substr(0, eq), text.substr(eq + 1)};
}

struct PipelineArgs {
  std::string plugin;
  std::vector<std::string> sets;
  std::string options_file;
  std::string table;
};

void AddPipelineOptions(po::options_description& desc, PipelineArgs& args) {
  desc.add_options()("plugin", po::value<std::string>(&args.plugin), "data plugin name")(
      "set", po::value<std::vector<std::string>>(&args.sets)->composing(),
      "KEY=VALUE: one option of the plugin (repeatable)")(
      "options", po::value<std::string>(&args.options_file), "a TOML file holding the options")(
      "table", po::value<std::string>(&args.table),
      "dotted path of the plugin's table in --options (default: the whole file)");
}

// The plugin's option table from a TOML file and/or --set pairs.
std::pair<std::string, Options> PipelineOptions(const PipelineArgs& args) {
  Options options = Options::Empty("--set");
  std::string plugin = args.plugin;
  if (!args.options_file.empty()) {
    Options file = Options::ParseFile(args.options_file);
    if (!args.table.empty() && !file.HasPath(args.table))
      throw InputError(fmt::format("{}: no table '{}'", args.options_file, args.table));
    options = file;
    if (!args.table.empty()) {
      // `inherit = "<sibling>"` resolves among the table's siblings, as in a manifest's [data].
      const size_t dot = args.table.rfind('.');
      Options siblings = dot == std::string::npos ? file : file.AtPath(args.table.substr(0, dot));
      options = ResolveInheritance(
          siblings, dot == std::string::npos ? args.table : args.table.substr(dot + 1));
      options.Accept("inherit");
      options.Erase("inherit");
      file.ThrowIfProblems();
      options.ThrowIfProblems();
    }
    if (options.Has("plugin")) {
      std::string named = options.String("plugin", "");
      if (plugin.empty()) plugin = named;
      options.Erase("plugin");
    }
  } else if (!args.table.empty()) {
    throw UsageError("--table needs --options FILE");
  }
  for (const std::string& s : args.sets) {
    auto [key, value] = SplitAssignment(s, "--set");
    options.Set(key, value);
  }
  options.ThrowIfProblems();
  if (plugin.empty())
    throw UsageError(
        "name the data plugin: --plugin NAME ('modelgrow plugins --kind data' lists them)");
  return {plugin, options};
}

// Constructs the pipeline from its options (every option problem reported at once); the caller
// opens it.
std::shared_ptr<DataPipeline> MakePipeline(const PluginRegistry& registry, const PipelineArgs& args,
                                           nlohmann::json* description = nullptr) {
  auto [plugin, options] = PipelineOptions(args);
  if (description)
    *description = {{"plugin", plugin}, {"options", nlohmann::json::parse(options.ToJson())}};
  PluginContext context{options};
  return registry.MakeDataPipeline(plugin, context);
}

bool ParseArgs(const std::vector<std::string>& args, po::options_description& desc,
               po::variables_map& vm,
               const po::positional_options_description* positional = nullptr) {
  po::command_line_parser parser(args);
  parser.options(desc);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc << "\n" << kExamples;
    return false;
  }
  return true;
}

int RunExport(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("modelgrow dataset export: write a data pipeline into HDF5 shards");
  PipelineArgs pipeline_args;
  AddPipelineOptions(desc, pipeline_args);
  std::string out;
  int64_t per_shard = 256;
  ExportOptions options;
  std::vector<std::string> encodes, text_sets, vae_sets;
  std::string vae_folder, vae_plugin;
  uint64_t vae_seed = 0;
  desc.add_options()("help,h", "show this help")("out", po::value<std::string>(&out),
                                                 "output folder")(
      "samples-per-shard", po::value<int64_t>(&per_shard)->default_value(256),
      "samples per shard file")("begin", po::value<int64_t>(&options.begin)->default_value(0),
                                "first pipeline index")(
      "limit", po::value<int64_t>(&options.limit)->default_value(-1),
      "samples to export (-1: all)")("compression",
                                     po::value<int>(&options.compression)->default_value(0),
                                     "gzip level 0-9 for the videos (0: none)")(
      "workers", po::value<int>(&options.workers)->default_value(2), "threads reading samples")(
      "overwrite", po::bool_switch(&options.overwrite), "replace an export already in --out")(
      "encode", po::value<std::vector<std::string>>(&encodes)->composing(),
      "[STORE=]TEXT_PLUGIN[:CAPTION]: also store that encoder's embeddings of each sample's "
      "CAPTION (default short) as /text/STORE (default: the plugin name); repeatable")(
      "text-set", po::value<std::vector<std::string>>(&text_sets)->composing(),
      "TEXT_PLUGIN.KEY=VALUE: an option of an --encode text plugin (repeatable)")(
      "vae", po::value<std::string>(&vae_folder),
      "encode every video through this VAE folder: the shards hold its latents")(
      "vae-plugin", po::value<std::string>(&vae_plugin), "the VAE plugin (default: the only one)")(
      "vae-set", po::value<std::vector<std::string>>(&vae_sets)->composing(),
      "KEY=VALUE: another option of the VAE plugin (repeatable)")(
      "vae-seed", po::value<uint64_t>(&vae_seed),
      "sample the VAE's posterior with this seed (default: its mean)")(
      "fit", po::value<std::string>(&options.fit)->default_value("crop"),
      "frame sides the VAE's factor does not divide: crop (centred) or pad")(
      "resume", po::bool_switch(&options.resume),
      "continue a killed export in --out where it stopped");
  po::variables_map vm;
  if (!ParseArgs(args, desc, vm)) return 0;
  if (out.empty()) throw UsageError("dataset export needs --out DIR");

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  nlohmann::json description;
  std::shared_ptr<DataPipeline> pipeline = MakePipeline(registry, pipeline_args, &description);
  options.source = description;

  std::map<std::string, Options> encoder_options;
  for (const std::string& s : text_sets) {
    auto [key, value] = SplitAssignment(s, "--text-set");
    size_t dot = key.find('.');
    if (dot == std::string::npos)
      throw UsageError(fmt::format("--text-set expects TEXT_PLUGIN.KEY=VALUE, got '{}'", s));
    auto [it, added] =
        encoder_options.try_emplace(key.substr(0, dot), Options::Empty("--text-set"));
    it->second.Set(key.substr(dot + 1), value);
  }
  // Every --encode and every encoder's options are checked before any encoder loads (they can
  // take a while).
  std::set<std::string> stores;
  std::vector<std::pair<std::string, ExportTextEncoder>> planned;  // (plugin, entry)
  for (const std::string& e : encodes) {
    ExportTextEncoder entry;
    size_t eq = e.find('=');
    std::string store = eq == std::string::npos ? "" : e.substr(0, eq);
    std::string spec = eq == std::string::npos ? e : e.substr(eq + 1);
    size_t colon = spec.find(':');
    std::string plugin = spec.substr(0, colon);
    if (colon != std::string::npos) entry.caption = spec.substr(colon + 1);
    entry.name = store.empty() ? plugin : store;
    if (plugin.empty() || entry.caption.empty())
      throw UsageError(fmt::format("--encode expects [STORE=]TEXT_PLUGIN[:CAPTION], got '{}'", e));
    if (!stores.insert(entry.name).second)
      throw UsageError(fmt::format(
          "two --encode entries store as '{}'; name one: --encode OTHER={}", entry.name, e));
    planned.emplace_back(plugin, std::move(entry));
  }
  for (auto& [plugin, entry] : planned) {
    auto found = encoder_options.find(plugin);
    PluginContext context{found != encoder_options.end() ? found->second
                                                         : Options::Empty("--text-set")};
    entry.encoder = registry.MakeTextEncoder(plugin, context);
    options.text_encoders.push_back(std::move(entry));
  }
  std::shared_ptr<VideoAutoencoder> vae;
  Options vae_options = Options::Empty("--vae-set");
  std::string vae_name;
  if (!vae_folder.empty()) {
    vae_name = ChooseVaePlugin(registry, vae_plugin);
    vae_options.Set("path", nlohmann::json(vae_folder).dump());
    ApplySets(vae_options, vae_sets);
    PluginContext context{vae_options};
    vae = registry.MakeVideoAutoencoder(vae_name, context);
  } else if (!vae_sets.empty() || vm.count("vae-seed")) {
    throw UsageError("--vae-set and --vae-seed need --vae FOLDER");
  }
  // Options are all checked: now the heavy part.
  pipeline->Open();
  for (ExportTextEncoder& entry : options.text_encoders) entry.encoder->Load();
  if (vae) {
    vae->Load();
    options.vae = vae;
    options.vae_options.sample = vm.count("vae-seed") > 0;
    options.vae_options.seed = vae_seed;
    options.vae_record = VaeRecord(vae_name, vae_options);
  }

  options.progress = [](const ExportProgress& p) {
    const double rate = p.seconds > 0 ? (p.done - p.resumed) / p.seconds : 0.0;
    const std::string left =
        rate > 0 ? Progress::FormatDuration((p.total - p.done) / rate) : std::string("?");
    std::cout << fmt::format(
                     "export: {}/{} samples, {} shard{}, {} skipped, {:.1f} samples/s, {} left\n",
                     p.done, p.total, p.shards, p.shards == 1 ? "" : "s", p.skipped, rate, left)
              << std::flush;
  };
  ExportResult result = ExportDataset(*pipeline, out, per_shard, options);
  if (result.resumed_at >= 0) std::cout << fmt::format("resumed at sample {}\n", result.resumed_at);
  std::cout << fmt::format("exported {} samples into {} shard{} in {} ({:.1f} s); {} skipped\n",
                           result.written, result.shards.size(),
                           result.shards.size() == 1 ? "" : "s", out, result.seconds,
                           result.skipped);
  if (!result.pipeline_summary.empty())
    std::cout << "pipeline summary: " << result.pipeline_summary.dump() << "\n";
  return 0;
}

int RunInfo(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc("modelgrow dataset info: describe HDF5 video shards");
  std::vector<std::string> paths;
  desc.add_options()("help,h", "show this help")("json", "print every shard's description as JSON")(
      "path", po::value<std::vector<std::string>>(&paths), "shard files, folders or glob patterns");
  po::positional_options_description positional;
  positional.add("path", -1);
  po::variables_map vm;
  if (!ParseArgs(args, desc, vm, &positional)) return 0;
  if (paths.empty()) throw UsageError("dataset info needs shard files, folders or patterns");
  nlohmann::json shards = nlohmann::json::array();
  int64_t total = 0;
  std::map<std::string, int64_t> shapes;
  std::set<std::string> captions, text;
  for (const auto& file : ResolveShardPaths(paths)) {
    nlohmann::json d = VideoShardReader::Open(file)->Describe();
    total += d["samples"].get<int64_t>();
    for (const auto& [shape, count] : d["shapes"].items()) shapes[shape] += count.get<int64_t>();
    for (const auto& c : d["captions"]) captions.insert(c.get<std::string>());
    for (const auto& [name, t] : d["text"].items()) text.insert(name);
    shards.push_back(std::move(d));
  }
  if (vm.count("json")) {
    std::cout << shards.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("{} samples in {} shard{}\n", total, shards.size(),
                           shards.size() == 1 ? "" : "s");
  std::cout << fmt::format("captions: {}\n", fmt::join(captions, ", "));
  std::cout << fmt::format("text embeddings: {}\n",
                           text.empty() ? "none" : fmt::format("{}", fmt::join(text, ", ")));
  for (const auto& [shape, count] : shapes)
    std::cout << fmt::format("  {} samples of shape {}\n", count, shape);
  for (const auto& d : shards)
    std::cout << fmt::format("  {}: {} samples{}\n", d["file"].get<std::string>(),
                             d["samples"].get<int64_t>(),
                             d["attributes"].value("latent", 0) ? " (latents)" : "");
  return 0;
}

int RunShow(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("modelgrow dataset show: print samples (captions, labels, shape)");
  PipelineArgs pipeline_args;
  AddPipelineOptions(desc, pipeline_args);
  int64_t index = 0, count = 1;
  desc.add_options()("help,h", "show this help")(
      "index", po::value<int64_t>(&index)->default_value(0), "first sample")(
      "count", po::value<int64_t>(&count)->default_value(1), "samples to print");
  po::variables_map vm;
  if (!ParseArgs(args, desc, vm)) return 0;
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  std::shared_ptr<DataPipeline> pipeline = MakePipeline(registry, pipeline_args);
  pipeline->Open();
  for (int64_t i = index; i < std::min(pipeline->size(), index + count); ++i) {
    nlohmann::json line = {{"index", i}};
    try {
      Sample s = pipeline->Get(i);
      line["shape"] = s.video.sizes().vec();
      line["fps"] = s.fps;
      line["height"] = s.height;
      line["width"] = s.width;
      line["captions"] = s.captions;
      line["labels"] = s.labels;
    } catch (const SkipSample& e) {
      line["skipped"] = e.what();
    }
    std::cout << line.dump() << "\n";
  }
  return 0;
}

int RunDataset(const std::vector<std::string>& args, const GlobalOptions& global) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage << "\n" << kExamples;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "export") return RunExport(rest, global);
  if (args[0] == "info") return RunInfo(rest, global);
  if (args[0] == "show") return RunShow(rest, global);
  throw UsageError(
      fmt::format("unknown dataset action '{}': expected export, info or show", args[0]));
}

}  // namespace

MODELGROW_CLI_COMMAND(kDatasetCommand,
                      {"dataset",
                       "export a data pipeline into HDF5 shards; describe shards; show samples",
                       RunDataset, 40});

}  // namespace modelgrow::cli
