// modelgrow sample --checkpoint CKPT --prompt "..." --out FILE.gif [sampling options]
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <boost/program_options.hpp>

#include "commands.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/gif.h"
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
  std::string checkpoint, prompt, out, text_file, weights;
  int64_t steps, frames, height, width;
  double cfg, fps;
  uint64_t seed;
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>(&checkpoint),
                                                 "checkpoint folder (a stage's checkpoint/)")(
      "prompt", po::value<std::string>(&prompt), "the text prompt")(
      "out", po::value<std::string>(&out), "output GIF")(
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
      "a record of their encoders");
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
  if (video.size(0) != 3 && video.size(0) != 1) {
    throw InputError(
        fmt::format("the model makes {}-channel latents; a GIF needs pixels (decode them "
                    "with the matching VAE first)",
                    video.size(0)));
  }
  WriteGif(out, video.clamp(-1, 1), {fps, 4});
  std::cout << out << ": " << frames << " frames, " << height << "x" << width << "\n";
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kSampleCommand,
                      {"sample", "generate one video from a checkpoint and a prompt (GIF)",
                       RunSample, 50});

}  // namespace modelgrow::cli
