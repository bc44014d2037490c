// modelgrow vae encode|decode|info: a VAE on a user's own clips and tensors, outside experiments.
#include <chrono>
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <boost/program_options.hpp>

#include "cli_util.h"
#include "commands.h"
#include "modelgrow/data/fit_frames.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/io/video_reader.h"
#include "modelgrow/io/video_writer.h"
#include "modelgrow/sdk/safetensors.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

namespace fs = std::filesystem;

const char kUsage[] =
    "usage: modelgrow vae encode --vae FOLDER --in CLIP.mp4|TENSORS.safetensors [--key x]\n"
    "                            [--mean | --seed N] [--frames N] [--fit crop|pad] --out "
    "LATENTS.safetensors\n"
    "       modelgrow vae decode --vae FOLDER --in LATENTS.safetensors [--key z] [--num-frames N]\n"
    "                            --out VIDEO.mp4|VIDEO.gif|TENSORS.safetensors\n"
    "       modelgrow vae info --vae FOLDER\n"
    "\n"
    "The VAE plugin is the only one on the plugin path, or --vae-plugin NAME; --vae-set KEY=VALUE\n"
    "sets its other options (e.g. --vae-set dtype=bfloat16).\n";

const char kExamples[] =
    "example:\n"
    "  modelgrow vae encode --vae models/OpenSora-VAE-v1.2 --in clip.mp4 --out z.safetensors\n"
    "  modelgrow vae decode --vae models/OpenSora-VAE-v1.2 --in z.safetensors --out clip.mp4\n";

struct VaeArgs {
  std::string folder, plugin;
  std::vector<std::string> sets;
};

void AddVaeOptions(po::options_description& desc, VaeArgs& args) {
  desc.add_options()("help,h", "show this help")("vae", po::value<std::string>(&args.folder),
                                                 "the VAE's folder (its `path` option)")(
      "vae-plugin", po::value<std::string>(&args.plugin), "the VAE plugin (default: the only one)")(
      "vae-set", po::value<std::vector<std::string>>(&args.sets)->composing(),
      "KEY=VALUE: another option of the VAE plugin (repeatable)");
}

c10::Device DefaultDevice() {
  return torch::cuda::is_available() ? c10::Device(c10::DeviceType::CUDA, 0)
                                     : c10::Device(c10::DeviceType::CPU);
}

std::pair<std::string, std::shared_ptr<VideoAutoencoder>> Load(const VaeArgs& args,
                                                               const GlobalOptions& global) {
  if (args.folder.empty()) throw UsageError("name the VAE's folder: --vae FOLDER");
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  std::string plugin = ChooseVaePlugin(registry, args.plugin);
  Options options = Options::Empty("--vae-set");
  options.Set("path", nlohmann::json(args.folder).dump());
  ApplySets(options, args.sets);
  return {plugin, LoadVae(registry, plugin, options, DefaultDevice())};
}

bool Parse(const std::vector<std::string>& args, po::options_description& desc,
           po::variables_map& vm) {
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc << "\n" << kExamples;
    return false;
  }
  return true;
}

// The tensor `key` of a safetensors file, or its only tensor when no key is given.
at::Tensor ReadTensor(const SafetensorsFile& file, const std::string& key, const char* fallback) {
  std::vector<std::string> keys = file.Keys();
  std::string name = key;
  if (name.empty()) name = keys.size() == 1 ? keys[0] : fallback;
  if (!file.Has(name))
    throw InputError(fmt::format("{}: no tensor '{}' (it holds {}); name one with --key",
                                 file.path().string(), name, fmt::join(keys, ", ")));
  return file.Get(name, at::kFloat);
}

std::string Seconds(std::chrono::steady_clock::time_point start) {
  return fmt::format(
      "{:.2f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

int RunEncode(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("modelgrow vae encode: a clip or a tensor file -> latents");
  VaeArgs vae_args;
  AddVaeOptions(desc, vae_args);
  std::string in, out, key, fit = "crop";
  uint64_t seed = 0;
  int64_t frames = 0;
  desc.add_options()("in", po::value<std::string>(&in), "a video file, or a .safetensors file")(
      "key", po::value<std::string>(&key),
      "the tensor in --in (.safetensors): [3, T, H, W] or [B, 3, T, H, W] in [-1, 1] (default: "
      "its only tensor, else x)")("mean", "encode the posterior mean (the default)")(
      "seed", po::value<uint64_t>(&seed), "sample the posterior with this seed instead")(
      "frames", po::value<int64_t>(&frames)->default_value(0),
      "encode only the first N frames (0: all)")(
      "fit", po::value<std::string>(&fit)->default_value("crop"),
      "frame sides its spatial factor does not divide: crop (centred) or pad (edges repeated)")(
      "out", po::value<std::string>(&out), "the latents (.safetensors, key z)");
  po::variables_map vm;
  if (!Parse(args, desc, vm)) return 0;
  if (in.empty() || out.empty()) throw UsageError("vae encode needs --in and --out");
  if (vm.count("mean") && vm.count("seed"))
    throw UsageError("--mean and --seed exclude each other");
  if (frames < 0) throw UsageError("--frames must be >= 0");
  const FitMode mode = ParseFitMode(fit);

  at::Tensor video;
  double fps = 0;
  if (fs::path(in).extension() == ".safetensors") {
    video = ReadTensor(SafetensorsFile::Open(in), key, "x");
    if (video.dim() == 4) video = video.unsqueeze(0);
    if (video.dim() != 5 || video.size(1) != 3)
      throw InputError(fmt::format("{}: expected [3, T, H, W] or [B, 3, T, H, W] pixels, got [{}]",
                                   in, fmt::join(video.sizes(), ", ")));
    if (frames > 0) video = video.slice(2, 0, frames);
  } else {
    VideoFile file = ReadVideo(in, frames);
    video = file.video.unsqueeze(0);
    fps = file.fps;
  }
  auto [plugin, vae] = Load(vae_args, global);
  const int64_t t = video.size(2), h = video.size(3), w = video.size(4);
  at::Tensor fitted = FitFrames(video, vae->spatial_factor(), mode);
  if (fitted.size(3) != h || fitted.size(4) != w)
    std::cerr << fmt::format("{}x{} frames {} to {}x{} (divisible by {})\n", h, w,
                             mode == FitMode::kCrop ? "cropped" : "padded", fitted.size(3),
                             fitted.size(4), vae->spatial_factor());
  VaeEncodeOptions options;
  options.sample = vm.count("seed") > 0;
  options.seed = seed;
  auto start = std::chrono::steady_clock::now();
  at::Tensor z = vae->Encode(fitted, options);
  std::map<std::string, std::string> metadata = {
      {"num_frames", std::to_string(t)},
      {"height", std::to_string(fitted.size(3))},
      {"width", std::to_string(fitted.size(4))},
      {"source_height", std::to_string(h)},
      {"source_width", std::to_string(w)},
      {"fit", fit},
      {"fps", fmt::format("{}", fps)},
      {"posterior", options.sample ? fmt::format("sample (seed {})", seed) : "mean"},
      {"vae",
       VaeRecord(plugin,
                 Options::ParseString(
                     fmt::format("path = {}", nlohmann::json(vae_args.folder).dump()), "vae"))
           .dump()},
      {"vae_cache_key", vae->CacheKey()}};
  WriteSafetensors(out, {{"z", z.contiguous()}}, metadata);
  std::cout << fmt::format("{}: z [{}] from {} frames of {}x{} in {}\n", out,
                           fmt::join(z.sizes(), ", "), t, fitted.size(3), fitted.size(4),
                           Seconds(start));
  return 0;
}

int RunDecode(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("modelgrow vae decode: latents -> a video or a tensor file");
  VaeArgs vae_args;
  AddVaeOptions(desc, vae_args);
  std::string in, out, key;
  int64_t num_frames = 0;
  double fps = 0;
  int scale = 1;
  desc.add_options()("in", po::value<std::string>(&in), "latents (.safetensors)")(
      "key", po::value<std::string>(&key),
      "the tensor in --in: [C, T', h, w] or [B, C, T', h, w] (default: its only tensor, else z)")(
      "num-frames", po::value<int64_t>(&num_frames)->default_value(0),
      "the clip length the latents stand for (default: what vae encode recorded)")(
      "fps", po::value<double>(&fps)->default_value(0),
      "frame rate of the video (default: the recorded one, else 24)")(
      "scale", po::value<int>(&scale)->default_value(1), "upscale the video's pixels this much")(
      "out", po::value<std::string>(&out),
      "VIDEO.mp4 / VIDEO.gif (one file per batch item: NAME_<i>.ext when B > 1) or "
      "TENSORS.safetensors (key x)");
  po::variables_map vm;
  if (!Parse(args, desc, vm)) return 0;
  if (in.empty() || out.empty()) throw UsageError("vae decode needs --in and --out");
  const bool tensors_out = fs::path(out).extension() == ".safetensors";
  if (!tensors_out && !CanWriteVideo(fs::path(out).extension().string()))
    throw UsageError(fmt::format("--out {}: write .mp4, .gif or .safetensors", out));
  SafetensorsFile file = SafetensorsFile::Open(in);
  at::Tensor z = ReadTensor(file, key, "z");
  if (z.dim() == 4) z = z.unsqueeze(0);
  const auto& meta = file.metadata();
  if (num_frames == 0 && meta.count("num_frames")) num_frames = std::stoll(meta.at("num_frames"));
  if (fps == 0 && meta.count("fps")) fps = std::stod(meta.at("fps"));
  if (fps <= 0) fps = 24;
  auto [plugin, vae] = Load(vae_args, global);
  if (num_frames == 0) {
    // No record: the longest clip these latents stand for.
    const int64_t t = z.dim() == 5 ? z.size(2) : 0;
    for (int64_t n = 1; n <= 64 * t + 64; ++n) {
      if (vae->LatentFrames(n) == t) num_frames = n;
    }
    if (num_frames == 0)
      throw InputError(
          fmt::format("{}: {} latent frames stand for no clip length of this VAE", in, t));
    std::cerr << fmt::format("no --num-frames and none recorded: decoding {} frames\n", num_frames);
  }
  auto start = std::chrono::steady_clock::now();
  at::Tensor x = vae->Decode(z, num_frames);
  if (tensors_out) {
    WriteSafetensors(out, {{"x", x.contiguous()}}, {{"num_frames", std::to_string(num_frames)}});
    std::cout << fmt::format("{}: x [{}] in {}\n", out, fmt::join(x.sizes(), ", "), Seconds(start));
    return 0;
  }
  for (int64_t b = 0; b < x.size(0); ++b) {
    fs::path target = out;
    if (x.size(0) > 1)
      target = fs::path(out).replace_filename(fmt::format("{}_{}{}", fs::path(out).stem().string(),
                                                          b, fs::path(out).extension().string()));
    std::string codec = WriteVideo(target, x[b], {fps, scale});
    std::cout << fmt::format("{}: {} frames of {}x{} ({}, {} fps) in {}\n", target.string(),
                             x.size(2), x.size(3), x.size(4), codec, fps, Seconds(start));
  }
  return 0;
}

int RunInfo(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("modelgrow vae info: what a VAE folder holds");
  VaeArgs vae_args;
  AddVaeOptions(desc, vae_args);
  po::variables_map vm;
  if (!Parse(args, desc, vm)) return 0;
  auto [plugin, vae] = Load(vae_args, global);
  nlohmann::json info = vae->Describe();
  info["plugin"] = plugin;
  info["cache_key"] = vae->CacheKey();
  info["latent_frames"] = {
      {"1", vae->LatentFrames(1)}, {"17", vae->LatentFrames(17)}, {"51", vae->LatentFrames(51)}};
  std::cout << info.dump(2) << "\n";
  return 0;
}

int RunVae(const std::vector<std::string>& args, const GlobalOptions& global) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage << "\n" << kExamples;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "encode") return RunEncode(rest, global);
  if (args[0] == "decode") return RunDecode(rest, global);
  if (args[0] == "info") return RunInfo(rest, global);
  throw UsageError(
      fmt::format("unknown vae action '{}': expected encode, decode or info", args[0]));
}

}  // namespace

MODELGROW_CLI_COMMAND(kVaeCommand, {"vae", "encode clips into a VAE's latents and decode them back",
                                    RunVae, 45});

}  // namespace modelgrow::cli
