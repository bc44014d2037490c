// modelgrow sample --checkpoint CKPT --prompt "..." --out FILE.gif|FILE.mp4 [sampling options]
//                  [--rewrite-with FOLDER [--rewrite-set key=value]...] [--vae FOLDER]
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <boost/program_options.hpp>

#include "cli_util.h"
#include "command_line.h"
#include "commands.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/host/checkpoint_text_encoders.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/video_writer.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/train/trainer.h"
#include "rewriter_choice.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunSample(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(
      args,
      {"sample --checkpoint CKPT --prompt TEXT --out VIDEO.gif|VIDEO.mp4 [options]",
       "Generates one video from a checkpoint and a prompt, written by the --out extension (GIF, "
       "or MP4 / MKV / WebM through FFmpeg). Size, length, frame rate, guidance and the flow "
       "schedule (a timestep shift) default to what the checkpoint was trained with (its "
       "config.json records them); its text encoders are rebuilt from its record, or from "
       "--text; a latent model's video is decoded by the VAE its checkpoint records, or --vae. "
       "--rewrite-with first has an LLM rewrite the prompt into a detailed one.",
       "modelgrow sample --checkpoint runs/quickstart/cache/continue-*/checkpoint \\\n"
       "    --prompt \"a red circle moves left\" --out video.mp4"});
  std::string checkpoint, prompt, out, text_file, weights, rewrite_with, rewrite_plugin, vae_folder,
      vae_plugin;
  std::vector<std::string> rewrite_sets, vae_sets;
  int64_t steps = 30, frames = 0, height = 0, width = 0, num_frames = 0;
  double cfg = -1, fps = 0;
  uint64_t seed = 0;
  cl.Options()("checkpoint", po::value<std::string>(&checkpoint),
               "checkpoint folder (a stage's checkpoint/)")(
      "prompt", po::value<std::string>(&prompt), "the text prompt")(
      "out", po::value<std::string>(&out), "output video: .gif, or .mp4 (H.264), .mkv, .webm")(
      "steps", po::value<int64_t>(&steps)->default_value(30), "Euler sampling steps")(
      "cfg", po::value<double>(&cfg), "classifier-free guidance scale (default: as trained)")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "noise seed")(
      "frames", po::value<int64_t>(&frames), "frames of the model input (default: as trained)")(
      "height", po::value<int64_t>(&height), "height of the model input (default: as trained)")(
      "width", po::value<int64_t>(&width), "width of the model input (default: as trained)")(
      "fps", po::value<double>(&fps), "frame rate (conditions the model; default: as trained)")(
      "weights", po::value<std::string>(&weights)->default_value("ema"), "ema or raw")(
      "text", po::value<std::string>(&text_file),
      "a TOML file of [text.<condition name>] tables (plugin + options), for checkpoints without "
      "a usable record of their encoders")(
      "rewrite-with", po::value<std::string>(&rewrite_with),
      "an LLM folder that first rewrites the prompt into a detailed one (`modelgrow rewrite`)")(
      "rewrite-set", po::value<std::vector<std::string>>(&rewrite_sets)->composing(),
      "key=value of the rewriter's options (repeatable)")(
      "rewrite-plugin", po::value<std::string>(&rewrite_plugin),
      "the text plugin that rewrites (default: the only one that can)")(
      "vae", po::value<std::string>(&vae_folder),
      "a latent model's VAE folder (default: the VAE its checkpoint records)")(
      "vae-plugin", po::value<std::string>(&vae_plugin), "with --vae: the VAE plugin")(
      "vae-set", po::value<std::vector<std::string>>(&vae_sets)->composing(),
      "with --vae: KEY=VALUE, another option of the VAE plugin")(
      "num-frames", po::value<int64_t>(&num_frames),
      "video frames decoded from the latent frames (default: the most they stand for)");
  if (!cl.Parse()) return 0;
  if (checkpoint.empty() || prompt.empty() || out.empty()) {
    throw UsageError("sample needs --checkpoint, --prompt and --out (modelgrow help sample)");
  }
  if (weights != "ema" && weights != "raw") throw UsageError("--weights is ema or raw");
  if (!CanWriteVideo(std::filesystem::path(out).extension().string())) {
    throw UsageError(
        fmt::format("--out {}: this build writes .gif{} videos", out,
                    CanWriteVideo(".mp4") ? ", .mp4, .mkv, .mov and .webm" : " (FFmpeg is off)"));
  }
  c10::Device device = torch::cuda::is_available() ? c10::Device(c10::DeviceType::CUDA, 0)
                                                   : c10::Device(c10::DeviceType::CPU);
  LoadedModel loaded = LoadModel(checkpoint, device);
  STDiT3Impl& model = *loaded.model;
  if (weights == "ema") LoadEmaWeights(model, checkpoint);
  model.eval();

  // Defaults: what the checkpoint was trained on (older checkpoints record nothing: 32x32x8).
  const nlohmann::json trained = loaded.meta.provenance.value("sampling", nlohmann::json::object());
  if (height <= 0) height = trained.value("height", int64_t{32});
  if (width <= 0) width = trained.value("width", int64_t{32});
  if (frames <= 0) frames = trained.value("frames", int64_t{8});
  if (fps <= 0) fps = trained.value("fps", 8.0);
  RectifiedFlowConfig config =
      RectifiedFlowConfig::FromJson(trained.value("flow", nlohmann::json::object()));
  if (cfg < 0) cfg = config.cfg_scale;

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  if (!rewrite_with.empty()) {
    auto rewriter = MakeRewriter(registry, rewrite_with, rewrite_plugin, rewrite_sets,
                                 c10::Device(c10::DeviceType::CPU));
    RewriteResult r = rewriter->Rewrite(prompt);
    std::cerr << fmt::format("rewritten prompt ({} new tokens, {:.2f} s): {}\n", r.new_tokens,
                             r.seconds, r.text);
    prompt = r.text;
  } else if (!rewrite_sets.empty() || !rewrite_plugin.empty()) {
    throw UsageError("--rewrite-set and --rewrite-plugin need --rewrite-with FOLDER");
  }
  Options text_tables =
      text_file.empty() ? Options::Empty() : Options::ParseFile(text_file).Table("text");
  std::vector<TextInput> text;
  for (const auto& encoder :
       CheckpointTextEncoders(registry, checkpoint, model.config().ConditionNames(),
                              loaded.meta.provenance, text_tables, device)) {
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
  // Tiny pixel videos are enlarged so a person can see them; decoded ones are full size.
  const int scale = vae ? 1 : 4;
  std::string written = WriteVideo(out, video.clamp(-1, 1), {fps, scale});
  std::cout << fmt::format(
      "{}: {} frames of {}x{} at {} fps, written {}x{} ({}{}{})\n", out, pixel_frames, pixel_height,
      pixel_width, fps, pixel_height * scale, pixel_width * scale, written,
      scale > 1 ? fmt::format(", {}x scale", scale) : "", vae ? ", decoded by the VAE" : "");
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kSampleCommand,
                      {"sample", "generate one video from a checkpoint and a prompt (GIF or MP4)",
                       RunSample, 50});

}  // namespace modelgrow::cli
