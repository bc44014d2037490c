// Shared setup of the growth tests: the built operator plugins, small "trained" models, and a
// helper that runs one operator through the host.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "modelgrow/growth/grow.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/model/stdit3.h"

namespace modelgrow::growth_testing {

inline const std::vector<std::string>& OperatorNames() {
  static const std::vector<std::string> names = {
      "stack", "llama_pro", "g_stack", "width", "text_condition", "lora", "depth_upscale"};
  return names;
}

// The growth plugins of this build (and nothing else from the plugin folder).
inline const PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    std::filesystem::path dir =
        std::filesystem::path(MODELGROW_BUILD_DIR) / "lib" / "modelgrow" / "plugins";
    for (const std::string& name : OperatorNames()) r->LoadFile(dir / ("growth_" + name + ".so"));
    return r;
  }();
  return *registry;
}

// hidden 32, 2 heads of 16, MLP 128: a few hundred thousand parameters at depth 4.
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

inline GrowthStep Step(const std::string& op, const std::string& toml = "") {
  return {op, Options::ParseString(toml, op + " options")};
}

// Runs one operator through the host (check, grow, measure).
inline GrowthReport GrowWith(STDiT3Impl& model, const std::string& op, const std::string& toml = "",
                             OptimizerState* state = nullptr,
                             const ProbeOptions& probe = TinyProbe()) {
  return GrowModel(Registry(), model, {Step(op, toml)}, state, /*seed=*/5, probe).at(0);
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

}  // namespace modelgrow::growth_testing
