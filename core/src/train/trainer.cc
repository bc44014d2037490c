#include "modelgrow/train/trainer.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/interruption.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/model/precision.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/text/condition_text.h"
#include "modelgrow/train/distributed_adamw.h"
#include "modelgrow/train/gradient_reducer.h"
#include "modelgrow/train/parameter_groups.h"
#include "modelgrow/train/smoothed_loss.h"
#include "modelgrow/train/training_hook_record.h"
#include "step_input.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

double LearningRate(const OptimSpec& optim, int64_t step, int64_t total_steps) {
  if (optim.warmup_steps > 0 && step < optim.warmup_steps) {
    return optim.lr * static_cast<double>(step + 1) / static_cast<double>(optim.warmup_steps);
  }
  if (optim.schedule == "constant") return optim.lr;
  int64_t span = std::max<int64_t>(1, total_steps - optim.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(step - optim.warmup_steps) / span);
  double floor = optim.lr * optim.min_lr_ratio;
  return floor + (optim.lr - floor) * 0.5 * (1 + std::cos(M_PI * progress));
}

namespace {

NamedTensors TrainableParameters(const STDiT3Impl& model) {
  NamedTensors out;
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

// The parameters of groups with lr_scale 0, held still for one stage: no gradient is computed for
// them (backward skips their weight products) and the optimizer keeps no state. They become
// trainable again when the stage ends, however it ends, so the stages after it train them; the
// checkpoint's record of frozen parameters is taken before the stage, so it never lists them.
class HeldParameters {
 public:
  // Moves the held parameters out of `trainable`.
  HeldParameters(NamedTensors& trainable, const ParameterHypers& hypers) {
    NamedTensors moving;
    for (auto& [name, p] : trainable) {
      auto it = hypers.find(name);
      if (it != hypers.end() && it->second.lr_scale == 0) {
        p.set_requires_grad(false);
        held_.push_back(p);
      } else {
        moving.emplace_back(name, p);
      }
    }
    trainable = std::move(moving);
  }
  ~HeldParameters() {
    for (at::Tensor& p : held_) p.set_requires_grad(true);
  }
  HeldParameters(const HeldParameters&) = delete;
  HeldParameters& operator=(const HeldParameters&) = delete;

 private:
  std::vector<at::Tensor> held_;
};

// Every rank's default CPU generator state (what the model's own random ops draw from), gathered
// on rank 0: rank 0's under "torch_default", rank r's under "torch_default.rank<r>".
NamedTensors GatherRngStates(Communicator& comm) {
  at::Generator default_generator = at::detail::getDefaultCPUGenerator();
  at::Tensor mine = default_generator.get_state();
  NamedTensors states{{"torch_default", mine}};
  for (int r = 1; r < comm.size(); ++r) {
    at::Tensor state = comm.rank() == r ? mine.clone() : at::empty_like(mine);
    comm.Broadcast(state, r);
    if (comm.is_root()) states.emplace_back(fmt::format("torch_default.rank{}", r), state);
  }
  return states;
}

// The collective part (optimizer state and RNG states to rank 0) on every rank, then rank 0
// writes the whole checkpoint in one atomic commit.
void SaveTrainCheckpoint(const fs::path& folder, const STDiT3Impl& model,
                         const CheckpointMeta& meta, DistributedAdamW& opt, const NamedTensors& ema,
                         int64_t step, double train_seconds, const DataLoader& loader,
                         const json& hook, Communicator& comm) {
  OptimizerState optimizer = opt.GatherState();
  NamedTensors rng = GatherRngStates(comm);
  if (!comm.is_root()) return;
  CheckpointWriter writer(folder);
  writer.AddModel(model, meta);
  WriteOptimizerStateTo(writer, optimizer);
  writer.AddTensors("ema.safetensors", ema);
  writer.AddTensors("rng.safetensors", rng);
  writer.AddJson("trainer_state.json", {{"step", step},
                                        {"loader", loader.position().ToJson()},
                                        {"world_size", comm.size()},
                                        {"sharded_optimizer", opt.sharded()}});
  if (!hook.is_null()) writer.AddJson(kTrainingHookFile, hook);
  // Beside the state, not in it: a resumed run's state is byte-identical to an uninterrupted
  // one's, its clock is not.
  writer.AddJson(kTrainTimeFile, {{"train_seconds", train_seconds}});
  writer.Commit();
}

// Drops metrics lines of steps after `step` (written after the checkpoint a resume starts from).
void TruncateMetrics(const fs::path& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  WriteFileAtomic(path, kept);
}

}  // namespace

TrainResult Train(TrainContext& c) {
  STDiT3Impl& model = *c.model;
  const TrainSpec& spec = c.spec;
  Communicator single;
  Communicator& comm = c.comm != nullptr ? *c.comm : single;
  std::vector<ConditionText> conditions = TrainingConditions(model, c.text, c.stored_text);
  CheckConditionDropout(model, spec, c.label);
  if (spec.batch_size % comm.size() != 0) {
    throw InputError(fmt::format(
        "{}: batch_size {} does not divide evenly among {} ranks: the global batch is split into "
        "equal parts, so choose a multiple of the world size",
        c.label, spec.batch_size, comm.size()));
  }
  const LoaderOptions& lo = c.loader->options();
  if (lo.shards != comm.size() || lo.shard != comm.rank() || lo.batch_size != spec.batch_size) {
    throw RunError(fmt::format(
        "{}: the loader yields part {} of {} of batches of {}, but this is rank {} of {} with "
        "batch_size {}",
        c.label, lo.shard, lo.shards, lo.batch_size, comm.rank(), comm.size(), spec.batch_size));
  }
  const bool root = comm.is_root();
  fs::create_directories(c.dir);
  const fs::path ckpt = c.dir / "checkpoint";
  const fs::path metrics_path = c.dir / "metrics.jsonl";

  NamedTensors trainable = TrainableParameters(model);
  if (trainable.empty()) throw InputError("nothing to train: every parameter is frozen");
  ResolvedParameterGroups groups = ResolveParameterGroups(spec.optim, trainable, c.label);
  HeldParameters held(trainable, groups.hypers);
  if (trainable.empty()) {
    throw InputError(fmt::format(
        "{}: nothing to train: every trainable parameter is in an optim.groups entry with "
        "lr_scale = 0",
        c.label));
  }
  DistributedAdamW opt(
      trainable, {spec.optim.beta1, spec.optim.beta2, spec.optim.eps, spec.optim.weight_decay},
      comm, spec.distributed.shard_optimizer, spec.distributed.bucket_mb, groups.hypers);
  if (comm.is_root()) {
    for (size_t g = 0; g < groups.groups.size(); ++g) {
      std::cerr << fmt::format("{}: optim.groups[{}] {}\n", c.label, g,
                               groups.groups[g].Describe());
    }
  }
  std::unique_ptr<GradientReducer> reducer;
  if (comm.distributed()) {
    reducer = std::make_unique<GradientReducer>(trainable, comm, spec.distributed.bucket_mb);
  }
  // The EMA is only ever written by rank 0, so only rank 0 keeps one.
  NamedTensors ema;
  if (root) {
    for (const auto& item : model.named_parameters())
      ema.emplace_back(item.key(), item.value().detach().clone());
  }
  torch::manual_seed(c.seed);

  TrainResult result;
  result.world_size = comm.size();
  result.sharded_optimizer = opt.sharded();
  result.optimizer_bytes_per_rank = opt.moment_bytes_per_rank();
  result.parameter_groups = groups.ToJson();
  for (const auto& [name, p] : trainable) result.trained_parameters += p.numel();
  int64_t step = 0;
  std::error_code ec;
  // The growth operator acting during training, if any, and the record it is saved under.
  std::unique_ptr<TrainingHook> hook;
  json hook_record = c.training_hook;
  auto start_hook = [&] {
    if (hook_record.is_null()) return;
    if (!c.make_training_hook) {
      throw InputError(
          fmt::format("{}: the model needs training hook '{}', which this host cannot "
                      "build",
                      c.label, hook_record.value("op", "?")));
    }
    hook = c.make_training_hook(hook_record);
  };
  auto current_hook = [&]() -> json {
    if (!hook) return nullptr;
    json record = hook_record;
    record["state"] = hook->State();
    return record;
  };
  if (c.resume && fs::exists(ckpt / "trainer_state.json", ec)) {
    json state = json::parse(ReadFile(ckpt / "trainer_state.json"));
    step = state.at("step").get<int64_t>();
    // Checkpoints older than the file did not keep it: their earlier time is unknown, and 0 is
    // all that can be added.
    if (fs::exists(ckpt / kTrainTimeFile, ec)) {
      json time = json::parse(ReadFile(ckpt / kTrainTimeFile), nullptr, false);
      if (time.is_object()) result.seconds_before_resume = time.value("train_seconds", 0.0);
    }
    TensorStore store = TensorStore::Open(ckpt);
    std::vector<std::string> missing;
    std::vector<std::string> unknown = LoadWeights(model, store, &missing);
    if (!missing.empty() || !unknown.empty()) {
      throw InputError(
          fmt::format("{}: the checkpoint does not match this stage's model", ckpt.string()));
    }
    // The masks of a hook part-way through, as they were at the checkpoint.
    model.SetGrowthMasks(STDiT3Config::FromJson(json::parse(ReadFile(ckpt / "config.json")),
                                                (ckpt / "config.json").string())
                             .growth_masks);
    hook_record = ReadTrainingHookRecord(ckpt);
    start_hook();
    opt.AdoptState(ReadOptimizerState(ckpt / kOptimizerStateFile));
    if (root) {
      SafetensorsFile ema_file = SafetensorsFile::Open(ckpt / "ema.safetensors");
      for (auto& [name, t] : ema) t.copy_(ema_file.Get(name, at::kFloat));
    }
    // Each rank continues its own generator; a rank the saved world did not have takes rank 0's.
    SafetensorsFile rng = SafetensorsFile::Open(ckpt / "rng.safetensors");
    std::string own = root ? "torch_default" : fmt::format("torch_default.rank{}", comm.rank());
    at::Generator default_generator = at::detail::getDefaultCPUGenerator();
    default_generator.set_state(rng.Get(rng.Has(own) ? own : "torch_default"));
    c.loader->Restore(LoaderPosition::FromJson(state.at("loader")));
    if (root) TruncateMetrics(metrics_path, step);
    result.resumed_from = step;
    std::cerr << fmt::format("{}: resumed from step {} of {} ({})\n", c.label, step, spec.steps,
                             ckpt.string());
  } else {
    if (c.initial_optimizer_state != nullptr) opt.AdoptState(*c.initial_optimizer_state);
    if (root) fs::remove(metrics_path, ec);
    start_hook();
  }

  model.train();
  model.set_activation_checkpointing(spec.grad_checkpointing);
  RectifiedFlow flow(spec.flow);
  Progress progress(c.label, spec.steps, step);
  auto train_seconds = [&] { return result.seconds_before_resume + progress.elapsed_seconds(); };
  std::ofstream metrics;
  if (root) metrics.open(metrics_path, std::ios::app);
  double window_loss = 0, window_norm = 0;
  int64_t window_steps = 0;
  SmoothedLoss shown_loss;  // what the progress bar shows
  bool first_window = true;
  const c10::ScalarType compute = spec.precision == "bf16" ? at::kBFloat16 : at::kFloat;
  auto window_start = std::chrono::steady_clock::now();

  const double flops_per_step =
      c.flops_per_sample * static_cast<double>(spec.batch_size * spec.grad_accum);
  while (step < spec.steps) {
    if (hook) {
      hook->BeforeStep(model);
      if (hook->Finished()) {
        hook->Remove(model);
        hook.reset();
      }
    }
    double step_loss = 0;
    for (int64_t a = 0; a < spec.grad_accum; ++a) {
      Batch batch = c.loader->Next();
      StepInput s = MakeStepInput(batch, c.spec, c.seed, c.device, conditions, model, flow);
      at::Tensor loss;
      {
        PrecisionScope precision(compute);
        loss = flow.TrainingLoss(model, s.input, s.noise, s.timesteps, s.frame_mask).mean();
      }
      // Only the last micro-step's backward pass communicates (DDP's no_sync before it).
      if (reducer && a + 1 == spec.grad_accum) reducer->Arm();
      (loss / static_cast<double>(spec.grad_accum)).backward();
      step_loss += loss.item<double>() / static_cast<double>(spec.grad_accum);
    }
    if (reducer) {
      reducer->Finish();
      // The step's loss over the global batch: the mean of the ranks' equal-sized parts.
      at::Tensor total = at::full({1}, step_loss, at::TensorOptions().dtype(at::kDouble));
      comm.AllReduceSum(total);
      step_loss = total.item<double>() / static_cast<double>(comm.size());
    }
    // Checked on the reduced loss, so every rank stops at the same step.
    if (!std::isfinite(step_loss)) {
      throw RunError(fmt::format("{}: the loss is {} at step {}", c.label, step_loss, step + 1));
    }
    double norm = ClipGradNorm(opt.params(), spec.optim.grad_clip);
    opt.Step(LearningRate(spec.optim, step, spec.steps));
    opt.ZeroGrad();
    if (root) {
      torch::NoGradGuard no_grad;
      auto params = model.named_parameters();
      for (auto& [name, shadow] : ema)
        shadow.mul_(spec.ema_decay).add_(params[name].detach(), 1 - spec.ema_decay);
    }
    ++step;
    window_loss += step_loss;
    window_norm += norm;
    ++window_steps;
    if (step % spec.log_every == 0 || step == spec.steps) {
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      double mean_loss = window_loss / static_cast<double>(window_steps);
      json line = {
          {"time", UtcTimestamp()},
          {"elapsed_s", train_seconds()},  // a resumed curve goes on in time too
          {"step", step},
          {"loss", mean_loss},
          {"lr", LearningRate(spec.optim, step - 1, spec.steps)},
          {"grad_norm", window_norm / static_cast<double>(window_steps)},
          {"steps_per_s", seconds > 0 ? window_steps / seconds : 0.0},
          {"samples_per_s",
           seconds > 0 ? window_steps * spec.batch_size * spec.grad_accum / seconds : 0.0}};
      if (c.flops_per_sample > 0) line["flops"] = flops_per_step * static_cast<double>(step);
      if (root) metrics << line.dump() << "\n" << std::flush;
      if (first_window) result.first_loss = mean_loss;
      first_window = false;
      result.final_loss = mean_loss;
      window_loss = window_norm = 0;
      window_steps = 0;
      window_start = std::chrono::steady_clock::now();
    }
    if (root) progress.Update(step, fmt::format("loss {:.4f}", shown_loss.Add(step_loss)));
    bool saved = false;
    if ((spec.checkpoint_every > 0 && step % spec.checkpoint_every == 0) || step == spec.steps) {
      SaveTrainCheckpoint(ckpt, model, c.meta, opt, ema, step, train_seconds(), *c.loader,
                          current_hook(), comm);
      saved = true;
    }
    if (c.after_step) c.after_step(step);
    if (int signal = comm.AgreedStopSignal(); signal != 0 && step < spec.steps) {
      // Asked to stop: this step is done; keep it, and say where to continue from.
      if (!saved)
        SaveTrainCheckpoint(ckpt, model, c.meta, opt, ema, step, train_seconds(), *c.loader,
                            current_hook(), comm);
      if (root) {
        metrics.flush();
        progress.Finish(fmt::format("stopped at step {}", step));
      }
      throw Interrupted(signal, fmt::format("interrupted at step {} of {} of stage {}", step,
                                            spec.steps, c.label));
    }
  }
  if (spec.steps == 0 || (result.resumed_from == spec.steps)) {
    // Nothing to do (or nothing left): still leave a checkpoint the next stage can start from.
    // Rank 0 decides, so every rank takes part in the same collectives.
    bool missing = comm.OnRoot(ckpt.string() + "/exists", [&] {
      return fs::exists(ckpt / "trainer_state.json", ec) ? "" : "missing";
    }) == "missing";
    if (missing)
      SaveTrainCheckpoint(ckpt, model, c.meta, opt, ema, step, train_seconds(), *c.loader,
                          current_hook(), comm);
  }
  if (root) progress.Finish(fmt::format("final loss {:.4f}", result.final_loss));
  result.steps = step;
  result.flops = flops_per_step * static_cast<double>(step);
  result.seconds = train_seconds();
  result.steps_per_second = progress.steps_per_second();
  result.samples_per_second =
      result.steps_per_second * static_cast<double>(spec.batch_size * spec.grad_accum);
  return result;
}

bool LoadEmaWeights(STDiT3Impl& model, const fs::path& checkpoint) {
  std::error_code ec;
  if (!fs::exists(checkpoint / "ema.safetensors", ec)) return false;
  SafetensorsFile ema = SafetensorsFile::Open(checkpoint / "ema.safetensors");
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    if (!ema.Has(item.key())) {
      throw InputError(fmt::format("{}: no EMA weights for '{}'", ema.path().string(), item.key()));
    }
    item.value().copy_(ema.Get(item.key(), at::kFloat));
  }
  return true;
}

}  // namespace modelgrow
