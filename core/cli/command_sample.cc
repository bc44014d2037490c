// modelgrow sample --checkpoint CKPT --prompt "..." --out FILE.gif|FILE.mp4 [sampling options]
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <boost/program_options.hpp>

#include "cli_util.h"
#include "commands.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/video_writer.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/train/trainer.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunSample(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc(
      "modelgrow sample: generate one video from a checkpoint and a prompt, as an animated GIF "
      "(text encoders are rebuilt from the checkpoint's record, or from --text)");
  std::string checkpoint, prompt, out, text_file, weights, vae_folder, vae_plugin;
  std::vector<std::string> vae_sets;
  int64_t steps, frames, height, width, num_frames;
  double cfg, fps;
  uint64_t seed;
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>(&checkpoint),
                                                 "checkpoint folder (a stage's checkpoint/)")(
      "prompt", po::value<std::string>(&prompt), "the text prompt")(
      "out", po::value<std::string>(&out), "output video: .gif, or .mp4 (H.264)")(
      "steps", po::value<int64_t>(&steps)->default_value(30), "Euler sampling steps")(
      "cfg", po::value<double>(&cfg)->default_value(7.0), "classifier-free guidance scale")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "noise seed")(
      "frames", po::value<int64_t>(&frames)->default_value(8),
      "frames (model input, e.g. latent frames)")(
      "height", po::value<int64_t>(&height)->default_value(32), "height in model-input pixels")(
      "width", po::value<int64_t>(&width)->default_value(32), "width in model-input pixels")(
      "fps", po::value<double>(&fps)->default_value(8),
      "frame rate (conditions the model; sets the GIF's)")(
      "weights", po::value<std::string>(&weights)->default_value("ema"), "ema or raw")(
      "text", po::value<std::string>(&text_file),
      "a TOML file of [text.<condition name>] tables (plugin + options), for checkpoints without "
      "a record of their encoders")(
      "vae", po::value<std::string>(&vae_folder),
      "a latent model's VAE folder (default: the VAE its checkpoint records)")(
      "vae-plugin", po::value<std::string>(&vae_plugin), "with --vae: the VAE plugin")(
      "vae-set", po::value<std::vector<std::string>>(&vae_sets)->composing(),
      "with --vae: KEY=VALUE, another option of the VAE plugin")(
      "num-frames", po::value<int64_t>(&num_frames)->default_value(0),
      "video frames decoded from the latent frames (default: the most they stand for)");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (checkpoint.empty() || prompt.empty() || out.empty()) {
    throw UsageError("sample needs --checkpoint, --prompt and --out");
  }
  if (weights != "ema" && weights != "raw") throw UsageError("--weights is ema or raw");
  c10::Device device = torch::cuda::is_available() ? c10::Device(c10::DeviceType::CUDA, 0)
                                                   : c10::Device(c10::DeviceType::CPU);
  LoadedModel loaded = LoadModel(checkpoint, device);
  STDiT3Impl& model = *loaded.model;
  if (weights == "ema") LoadEmaWeights(model, checkpoint);
  model.eval();

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  Options text_tables =
      text_file.empty() ? Options::Empty() : Options::ParseFile(text_file).Table("text");
  nlohmann::json recorded = loaded.meta.provenance.value("text_encoders", nlohmann::json::object());
  const std::vector<std::string> names = model.config().ConditionNames();
  std::vector<TextInput> text;
  for (const std::string& name : names) {
    PluginContext context;
    context.device = device;
    std::string plugin;
    if (text_tables.Has(name)) {
      Options t = text_tables.Table(name);
      plugin = t.RequireString("plugin");
      context.options = t.Subset({"plugin"});
    } else if (recorded.contains(name)) {
      plugin = recorded[name]["plugin"].get<std::string>();
      context.options = Options::ParseString(recorded[name]["options"].get<std::string>(),
                                             checkpoint + "/config.json: text_encoders." + name);
    } else {
      throw InputError(fmt::format(
          "{}: the model's text condition '{}' has no recorded encoder; pass --text FILE with a "
          "[text.{}] table",
          checkpoint, name, name));
    }
    text_tables.ThrowIfProblems();
    auto encoder = registry.MakeTextEncoder(plugin, context);
    encoder->Load();
    TextEncoding e = encoder->Encode({prompt});
    text.push_back({e.embedding.to(device), e.mask.defined() ? e.mask.to(device) : at::Tensor()});
  }

  // A latent model's samples become pixels through its VAE.
  std::shared_ptr<VideoAutoencoder> vae;
  const nlohmann::json recorded_vae = loaded.meta.provenance.value("vae", nlohmann::json());
  if (!vae_folder.empty()) {
    std::string plugin = ChooseVaePlugin(registry, vae_plugin);
    Options options = Options::Empty("--vae-set");
    options.Set("path", nlohmann::json(vae_folder).dump());
    ApplySets(options, vae_sets);
    vae = LoadVae(registry, plugin, options, device);
    CheckVaeFitsModel(*vae, vae_folder, model.config().in_channels, checkpoint);
  } else if (!recorded_vae.is_null()) {
    vae = LoadRecordedVae(registry, recorded_vae, checkpoint + "/config.json", device);
    CheckVaeFitsModel(*vae, recorded_vae.dump(), model.config().in_channels, checkpoint);
  } else if (model.config().in_channels != 3 && model.config().in_channels != 1) {
    throw InputError(fmt::format(
        "{}: the model makes {}-channel latents and its checkpoint names no VAE; give the VAE "
        "its data was encoded with: --vae FOLDER",
        checkpoint, model.config().in_channels));
  }

  RectifiedFlowConfig config;
  config.num_sampling_steps = steps;
  config.cfg_scale = cfg;
  RectifiedFlow flow(config);
  at::Generator g = at::detail::createCPUGenerator(seed);
  at::Tensor noise =
      at::randn({1, model.config().in_channels, frames, height, width}, g, at::TensorOptions());
  Progress progress("sample", steps);
  torch::NoGradGuard no_grad;
  at::Tensor z = flow.Sample(model, noise.to(device), text, at::full({1}, fps),
                             static_cast<double>(height), static_cast<double>(width),
                             [&](int64_t step, int64_t) { progress.Update(step); });
  progress.Finish();
  at::Tensor video = RectifiedFlow::Velocity(z, model.config().in_channels)[0].to(at::kCPU);
  int64_t pixel_height = height, pixel_width = width, pixel_frames = frames;
  if (vae) {
    if (num_frames == 0) {
      for (int64_t n = 1; n <= 64 * frames + 64; ++n) {
        if (vae->LatentFrames(n) == frames) num_frames = n;
      }
    }
    video = vae->Decode(video.unsqueeze(0).to(device), num_frames)[0].to(at::kCPU);
    pixel_frames = video.size(1);
    pixel_height = video.size(2);
    pixel_width = video.size(3);
  }
  std::string written = WriteVideo(out, video.clamp(-1, 1), {fps, vae ? 1 : 4});
  std::cout << fmt::format("{}: {} frames, {}x{} ({}{})\n", out, pixel_frames, pixel_height,
                           pixel_width, written, vae ? ", decoded by the VAE" : "");
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kSampleCommand,
                      {"sample", "generate one video from a checkpoint and a prompt (GIF or MP4)",
                       RunSample, 50});

}  // namespace modelgrow::cli
