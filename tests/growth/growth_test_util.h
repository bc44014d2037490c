// Shared setup of the growth tests: small "trained" models, the host's probe at test size, and
// helpers that run an operator plugin through the host.
//
// A plugin's own test (modelgrow_add_plugin_test) grows with the plugin it tests
// (MODELGROW_TEST_PLUGIN_FILE) through GrowWith(model, toml). A test that needs another operator
// names it (GrowWithPlugin(model, "stack", toml)); it is loaded from the build's plugin folder
// (MODELGROW_PLUGIN_DIR) as growth_<name>.so. No list of operators lives here: a new operator
// folder needs nothing in this file.
#pragma once

#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/adamw.h>
#include <torch/torch.h>

#include "modelgrow/growth/grow.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/model/clone.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/errors.h"
#include "test_paths.h"

namespace modelgrow::growth_testing {

// The growth plugins loaded so far: the plugin under test first, others as tests name them.
inline PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
#ifdef MODELGROW_TEST_PLUGIN_FILE
    if (std::strlen(MODELGROW_TEST_PLUGIN_FILE) > 0) r->LoadFile(MODELGROW_TEST_PLUGIN_FILE);
#endif
    return r;
  }();
  return *registry;
}

// The name of the plugin this test program tests (its library is MODELGROW_TEST_PLUGIN_FILE).
inline const std::string& PluginUnderTest() {
  static const std::string name = [] {
    std::filesystem::path file;
#ifdef MODELGROW_TEST_PLUGIN_FILE
    file = MODELGROW_TEST_PLUGIN_FILE;
#endif
    for (const PluginInfo& info : Registry().List(PluginKind::kGrowth)) {
      if (!file.empty() && std::filesystem::equivalent(info.file, file)) return info.name;
    }
    throw RunError(
        "this test program tests no growth plugin (MODELGROW_TEST_PLUGIN_FILE is not set: build "
        "it with modelgrow_add_plugin_test(... PLUGIN growth_<name>))");
  }();
  return name;
}

// Makes sure growth plugin `name` is loaded: the plugin under test, or growth_<name>.so from the
// build's plugin folder.
inline const PluginRegistry& RegistryWith(const std::string& name) {
  PluginRegistry& registry = Registry();
  for (const PluginInfo& info : registry.List(PluginKind::kGrowth)) {
    if (info.name == name) return registry;
  }
  std::filesystem::path file =
      std::filesystem::path(MODELGROW_PLUGIN_DIR) / ("growth_" + name + ".so");
  // A name with no library is left to Find(), whose error lists the plugins that exist.
  if (std::filesystem::exists(file)) registry.LoadFile(file);
  return registry;
}

// hidden 32, 2 heads of 16, MLP 128: a few hundred thousand parameters at depth 4. The
// conformance suite's probe model is this one.
inline STDiT3Config TinyConfig(int64_t depth = 4) {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  c.hidden_size = 32;
  c.num_heads = 2;
  c.depth = depth;
  c.caption_channels = 16;
  c.model_max_length = 6;
  return c;
}

// A model whose every parameter is perturbed, as after training: no block is the identity (fresh
// temporal blocks are) and no bias is zero, so copies and zeroing are really tested.
inline STDiT3 TrainedModel(const STDiT3Config& config, uint64_t seed = 11) {
  torch::manual_seed(seed);
  STDiT3 model(config);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  return model;
}

inline ProbeOptions TinyProbe() {
  ProbeOptions probe;
  probe.batch = 2;
  probe.frames = 3;
  probe.height = 8;
  probe.width = 8;
  return probe;
}

// One step of operator `op` with options from TOML text, constructed as the host does.
inline GrowthStep Step(const std::string& op, const std::string& toml = "",
                       c10::Device device = c10::Device(c10::DeviceType::CPU)) {
  std::vector<std::pair<std::string, Options>> ops = {
      {op, Options::ParseString(toml, op + " options")}};
  return MakeGrowthSteps(RegistryWith(op), ops, device).at(0);
}

// Fit data for operators that learn how to grow, at test size: the loss is the squared distance of
// the model's output from the base model's on a cycle of `batches` fixed probe inputs, so fitting
// pulls a grown model back toward the function it was grown from. Deterministic: two instances
// made from equal models give equal losses call by call.
class DistillationData : public GrowthData {
 public:
  explicit DistillationData(const STDiT3Impl& base, int64_t batches = 3)
      : base_(CloneModel(base)), batches_(batches) {
    base_->eval();
  }
  torch::Tensor NextLoss(STDiT3Impl& model) override {
    ProbeOptions probe = TinyProbe();
    probe.seed = 40 + static_cast<uint64_t>(calls_++ % batches_);
    probe.timesteps = {500};
    ModelInput in = ProbeInputs(base_->config(), probe, model.device()).back();
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      target = base_->forward(in);
    }
    return (model.forward(in) - target).pow(2).mean();
  }
  nlohmann::json Describe() const override {
    return {{"data", "distillation"}, {"batches", batches_}, {"calls", calls_}};
  }
  int64_t calls() const { return calls_; }

 private:
  STDiT3 base_;
  int64_t batches_;
  int64_t calls_ = 0;
};

// Runs steps through the host (check, grow, measure).
inline std::vector<GrowthReport> GrowWithSteps(STDiT3Impl& model,
                                               const std::vector<GrowthStep>& steps,
                                               OptimizerState* state = nullptr,
                                               const ProbeOptions& probe = TinyProbe(),
                                               GrowthData* data = nullptr) {
  return GrowModel(model, steps, state, /*seed=*/5, probe, data);
}

// Runs operator `op` once through the host.
inline GrowthReport GrowWithPlugin(STDiT3Impl& model, const std::string& op,
                                   const std::string& toml = "", OptimizerState* state = nullptr,
                                   const ProbeOptions& probe = TinyProbe()) {
  return GrowWithSteps(model, {Step(op, toml, model.device())}, state, probe).at(0);
}

// Runs the plugin under test once through the host.
inline GrowthReport GrowWith(STDiT3Impl& model, const std::string& toml = "",
                             OptimizerState* state = nullptr,
                             const ProbeOptions& probe = TinyProbe()) {
  return GrowWithPlugin(model, PluginUnderTest(), toml, state, probe);
}

// Parameters of one block as the formula from stdit3.md generalises it: self-attention
// (qkv, q/k RMSNorm over the head dim, proj), per text condition a cross-attention (q, kv, proj),
// the MLP and the 6xC scale-shift table. A = heads x head_dim, H = MLP width.
inline int64_t BlockParams(int64_t c, int64_t heads, int64_t head_dim, int64_t mlp,
                           int64_t conditions = 1, bool qk_norm = true) {
  const int64_t a = heads * head_dim;
  int64_t self = c * 3 * a + 3 * a + (qk_norm ? 2 * head_dim : 0) + a * c + c;
  int64_t cross = (c * a + a) + (c * 2 * a + 2 * a) + (a * c + c);
  int64_t mlp_params = c * mlp + mlp + mlp * c + c;
  return self + conditions * cross + mlp_params + 6 * c;
}

inline ModelInput SomeInput(const STDiT3Config& c, bool frame_mask, uint64_t seed = 3) {
  ProbeOptions probe = TinyProbe();
  probe.seed = seed;
  probe.timesteps = {333};
  probe.with_frame_mask = frame_mask;
  return ProbeInputs(c, probe, torch::kCPU).back();
}

// Everything a refused request must leave as it was: the config, every state-dict entry's bytes
// and every parameter's trainable flag.
struct ModelSnapshot {
  STDiT3Config config;
  std::vector<std::string> keys;
  std::vector<std::string> bytes;
  std::vector<bool> trainable;
  bool operator==(const ModelSnapshot&) const = default;
};

inline std::string TensorBytes(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  std::string out = std::string(c.dtype().name()) + ":";
  for (int64_t s : c.sizes()) out += std::to_string(s) + ",";
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return out;
}

inline ModelSnapshot Snapshot(const STDiT3Impl& model) {
  ModelSnapshot s;
  s.config = model.config();
  for (const auto& [key, tensor] : model.StateDict()) {
    s.keys.push_back(key);
    s.bytes.push_back(TensorBytes(tensor));
  }
  for (const auto& p : model.parameters()) s.trainable.push_back(p.requires_grad());
  return s;
}

// Adds LoRA adapters to every layer whose name matches `suffix` and gives their B random values,
// as after training (a fresh adapter's B is zero and would hide a copy that forgets it).
inline int64_t AddTrainedLora(STDiT3Impl& model, const std::string& suffix, int64_t rank = 2) {
  int64_t added = 0;
  for (const auto& item : model.named_modules()) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    if (linear == nullptr || !item.key().ends_with(suffix)) continue;
    linear->AddLora(rank, 2.0 * static_cast<double>(rank), 0.0);
    ++added;
  }
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_parameters()) {
    if (item.key().ends_with("lora_B.weight")) item.value().normal_(0, 0.05);
  }
  return added;
}

// The names of the parameters that train.
inline std::set<std::string> Trainable(const STDiT3Impl& model) {
  std::set<std::string> out;
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad()) out.insert(item.key());
  }
  return out;
}

// Names of the parameters a few AdamW steps change; `with_grad` gets those the first step gave a
// gradient.
inline std::set<std::string> TrainAndDiff(STDiT3Impl& model, std::set<std::string>* with_grad) {
  std::map<std::string, torch::Tensor> before;
  std::vector<torch::Tensor> trainable;
  for (const auto& item : model.named_parameters()) {
    before[item.key()] = item.value().detach().clone();
    if (item.value().requires_grad()) trainable.push_back(item.value());
  }
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(1e-3).weight_decay(0));
  model.train();
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    ModelInput in = SomeInput(model.config(), step == 1, 10 + step);
    model.forward(in).pow(2).mean().backward();
    if (step == 0) {
      for (const auto& item : model.named_parameters()) {
        if (item.value().grad().defined()) with_grad->insert(item.key());
      }
    }
    optimizer.step();
  }
  std::set<std::string> changed;
  for (const auto& item : model.named_parameters()) {
    if (!torch::equal(item.value(), before[item.key()])) changed.insert(item.key());
  }
  return changed;
}

}  // namespace modelgrow::growth_testing
