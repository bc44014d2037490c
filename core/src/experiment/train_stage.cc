// `pretrain` and `continue` stages: a model (new, from `init`, or from the previous stage), the
// stage's data and the model's text encoders, trained by Train().
#include <chrono>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/growth/symmetry.h"
#include "modelgrow/host/training_hook_factory.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/model/flops.h"
#include "modelgrow/train/trainer.h"
#include "modelgrow/train/training_hook_record.h"
#include "run_context.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

json RunContext::TrainStage(const StageSpec& s, const fs::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  STDiT3 model{nullptr};
  const OptimizerState* initial = nullptr;
  OptimizerState carried;
  bool resuming = resume_ && fs::exists(dir / "checkpoint" / "trainer_state.json");
  fs::path from;  // the checkpoint the stage starts from, if any
  if (s.kind == StageKind::kPretrain && s.train.init.empty()) {
    STDiT3Config config = m_.model_config();
    config.condition0_name = m_.condition0_text();
    TextEncoder& encoder = Text(m_.condition0_text())->encoder();
    if (!m_.model_table().Has("caption_channels")) config.caption_channels = encoder.dim();
    if (!m_.model_table().Has("model_max_length")) config.model_max_length = encoder.max_length();
    torch::manual_seed(run_.seed);
    model = STDiT3(config);
    model->to(device_);
    ApplyNullPolicies(*model, 0);
  } else {
    from =
        s.kind == StageKind::kPretrain ? fs::path(s.train.init) : dirs_.at(s.from) / "checkpoint";
    model = LoadModel(from, device_).model;
    std::error_code ec;
    if (s.kind == StageKind::kContinue && s.train.optimizer_state == "carry" &&
        fs::exists(from / kOptimizerStateFile, ec)) {
      carried = ReadOptimizerState(from / kOptimizerStateFile);
      initial = &carried;
    }
  }
  if (std::shared_ptr<VideoAutoencoder> vae = Vae())
    CheckVaeFitsModel(*vae, fmt::format("[vae] ({})", m_.vae()->plugin),
                      model->config().in_channels, fmt::format("of stage '{}'", s.name));
  LoaderOptions lo;
  lo.batch_size = s.train.batch_size;
  lo.seed = run_.seed;
  lo.workers = s.train.workers;
  lo.shard = comm_.rank();
  lo.shards = comm_.size();
  auto loader = std::make_unique<DataLoader>(Data(s.train.data), lo);
  TrainContext context;
  context.model = model.get();
  context.loader = loader.get();
  context.text = Encoders(*model);
  context.stored_text = Data(s.train.data)->stored_text();
  context.spec = s.train;
  context.seed = run_.seed;
  context.dir = dir;
  context.meta = Meta(*model, s);
  // What sampling this model must do to match its training: the size, length and frame rate it
  // saw, and the flow schedule (a timestep shift, if any).
  Sample first = Data(s.train.data)->Get(0);
  context.meta.provenance["sampling"] = {{"height", first.height},
                                         {"width", first.width},
                                         {"frames", first.video.size(1)},
                                         {"fps", first.fps},
                                         {"flow", s.train.flow.ToJson()}};
  context.flops_per_sample = TrainingFlopsPerSample(model->config(), first.video.size(1),
                                                    first.video.size(2), first.video.size(3));
  if (s.train.flops > 0) {
    const double per_step =
        context.flops_per_sample * static_cast<double>(s.train.batch_size * s.train.grad_accum);
    context.spec.steps = std::max<int64_t>(1, static_cast<int64_t>(s.train.flops / per_step));
  }
  context.initial_optimizer_state = initial;
  if (!from.empty()) context.training_hook = ReadTrainingHookRecord(from);
  context.make_training_hook = TrainingHookFactory(registry_, device_);
  context.resume = resuming;
  context.label = fmt::format("{} {}", run_.id, s.name);
  context.device = device_;
  context.comm = &comm_;
  const SymmetryStats symmetry_start = MeasureSymmetry(*model);
  TrainResult r = Train(context);
  const SymmetryStats symmetry_end = MeasureSymmetry(*model);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() +
      r.seconds_before_resume;
  return {{"seconds", seconds},
          {"steps", r.steps},
          {"resumed_from", r.resumed_from},
          {"first_loss", r.first_loss},
          {"final_loss", r.final_loss},
          {"train_seconds", r.seconds},
          {"seconds_before_resume", r.seconds_before_resume},
          {"steps_per_second", r.steps_per_second},
          {"samples_per_second", r.samples_per_second},
          {"flops",
           {{"per_sample", context.flops_per_sample},
            {"per_step", context.flops_per_sample *
                             static_cast<double>(s.train.batch_size * s.train.grad_accum)},
            {"total", r.flops}}},
          {"params", model->NumParameters()},
          {"trainable", r.trained_parameters},
          {"world_size", r.world_size},
          {"optimizer",
           {{"sharded", r.sharded_optimizer},
            {"moment_bytes_per_rank", r.optimizer_bytes_per_rank},
            {"parameter_groups", r.parameter_groups}}},
          {"loader", loader->Stats()},
          {"symmetry", {{"start", symmetry_start.ToJson()}, {"end", symmetry_end.ToJson()}}}};
}

}  // namespace modelgrow
