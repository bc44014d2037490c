#include "step_input.h"

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {
namespace {

// Text condition k of the model: its encoder must produce what the model's projection expects.
void CheckEncoders(const STDiT3Impl& model, const std::vector<TextEncoderCache*>& text) {
  const STDiT3Config& config = model.config();
  if (static_cast<int64_t>(text.size()) != config.num_conditions()) {
    throw InputError(fmt::format("the model has {} text condition(s) but {} encoder(s) were given",
                                 config.num_conditions(), text.size()));
  }
  const std::vector<std::string> names = config.ConditionNames();
  for (int64_t k = 0; k < config.num_conditions(); ++k) {
    const std::string& name = names[k];
    int64_t channels =
        k == 0 ? config.caption_channels : config.extra_conditions[k - 1].caption_channels;
    int64_t tokens = k == 0 ? config.model_max_length : config.extra_conditions[k - 1].token_num;
    TextEncoder& encoder = text[k]->encoder();
    if (encoder.dim() != channels || encoder.max_length() != tokens) {
      throw InputError(fmt::format(
          "text condition {} ('{}'): the model expects {}-wide embeddings of {} tokens but the "
          "encoder gives {} x {}",
          k, name, channels, tokens, encoder.dim(), encoder.max_length()));
    }
  }
}

// The random draws of one sample: caption coin, caption dropout, first-frame mask, timestep and
// noise, in this order, from a generator of its own keyed by the run's seed and the sample's
// global number. A step's randomness therefore does not depend on how its samples are split into
// micro-batches or ranks: grad_accum = 2 with batch 4, or two ranks with a global batch of 8,
// draw exactly what batch 8 in one process draws, and train the same model up to fp32 rounding.
constexpr uint64_t kSampleStream = 0x73616d706c65ull;  // "sample"

struct SampleDraws {
  at::Tensor coin, drop, keep_first, timestep, noise, condition_drops;
};

SampleDraws DrawForSample(const at::Tensor& video, const TrainSpec& spec, const ModelInput& input,
                          size_t input_conditions, const RectifiedFlow& flow, at::Generator& gen) {
  SampleDraws d;
  d.coin = at::rand({1}, gen, at::TensorOptions());
  d.drop = at::rand({1}, gen, at::TensorOptions());
  const int64_t frames = video.size(1);
  if (spec.frame_mask_prob > 0 && frames > 1)
    d.keep_first = at::rand({1}, gen, at::TensorOptions());
  d.timestep = flow.SampleTimesteps(1, input.height, input.width, frames, gen);
  d.noise = at::randn(video.sizes(), gen, at::TensorOptions());
  // Drawn last, and only when asked for, so runs without it draw what they always drew. One draw
  // per condition of the model, so a condition's coin does not depend on which others drop.
  if (!spec.condition_dropout.empty())
    d.condition_drops =
        at::rand({static_cast<int64_t>(input_conditions)}, gen, at::TensorOptions());
  return d;
}

}  // namespace

void CheckConditionDropout(const STDiT3Impl& model, const TrainSpec& spec,
                           const std::string& where) {
  const std::vector<std::string> names = model.config().ConditionNames();
  for (const auto& [name, p] : spec.condition_dropout) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    std::string hint = SuggestClosest(name, names);
    throw InputError(
        fmt::format("{}: condition_dropout.{}: the model has no text condition '{}' "
                    "(its conditions: {}){}",
                    where, name, name, fmt::join(names, ", "), hint.empty() ? "" : "; " + hint));
  }
}

std::vector<ConditionText> TrainingConditions(const STDiT3Impl& model,
                                              const std::vector<TextEncoderCache*>& text,
                                              const std::map<std::string, StoredTextInfo>& stored) {
  CheckEncoders(model, text);
  std::vector<ConditionText> conditions;
  const std::vector<std::string> names = model.config().ConditionNames();
  for (size_t k = 0; k < text.size(); ++k) {
    conditions.emplace_back(names[k], text[k], stored, /*by_sample_index=*/true);
  }
  return conditions;
}

StepInput MakeStepInput(const Batch& batch, const TrainSpec& spec, uint64_t seed,
                        c10::Device device, const std::vector<ConditionText>& conditions,
                        const STDiT3Impl& model, const RectifiedFlow& flow) {
  const int64_t b = batch.size();
  StepInput s;
  s.input.x = batch.video.to(device, at::kFloat);
  s.input.fps = batch.fps.to(device, at::kFloat);
  s.input.height = static_cast<double>(batch.height);
  s.input.width = static_cast<double>(batch.width);
  std::vector<at::Tensor> coins, drops, keeps, timesteps, noises, condition_drops;
  for (int64_t i = 0; i < b; ++i) {
    at::Generator gen = at::detail::createCPUGenerator(
        DeriveSeed(seed, {kSampleStream, static_cast<uint64_t>(batch.first_sample + i)}));
    SampleDraws d = DrawForSample(batch.video[i], spec, s.input, conditions.size(), flow, gen);
    coins.push_back(d.coin);
    drops.push_back(d.drop);
    if (d.keep_first.defined()) keeps.push_back(d.keep_first);
    timesteps.push_back(d.timestep);
    noises.push_back(d.noise);
    if (d.condition_drops.defined()) condition_drops.push_back(d.condition_drops);
  }

  // Captions: short, detailed, or a seeded coin per sample.
  at::Tensor coin = at::cat(coins);
  std::vector<std::string> prompts, kinds;
  for (int64_t i = 0; i < b; ++i) {
    std::string kind = spec.caption;
    if (kind == "mixed") kind = coin[i].item<float>() < 0.5f ? "short" : "detailed";
    auto it = batch.captions[i].find(kind);
    if (it == batch.captions[i].end()) {
      throw InputError(fmt::format(
          "stage data '{}' sample {} has no '{}' caption (it has: {})", spec.data, batch.indices[i],
          kind, batch.captions[i].empty() ? "none" : batch.captions[i].begin()->first));
    }
    prompts.push_back(it->second);
    kinds.push_back(kind);
  }
  // Caption dropout replaces every condition's caption with its null caption (mask kept), as
  // Open-Sora's CaptionEmbedder.token_drop does, so guidance can later contrast the two.
  const at::Tensor drop = at::cat(drops) < spec.caption_dropout;
  const at::Tensor per_condition =
      condition_drops.empty() ? at::Tensor() : at::stack(condition_drops);  // [b, conditions]
  for (size_t k = 0; k < conditions.size(); ++k) {
    TextEncoding enc = conditions[k].Get(prompts, kinds, batch.indices, batch.text_embeddings);
    at::Tensor emb = enc.embedding.to(device, at::kFloat);
    at::Tensor dropped = drop;
    auto alone = spec.condition_dropout.find(conditions[k].name());
    const double alone_p = alone == spec.condition_dropout.end() ? 0.0 : alone->second;
    if (alone_p > 0) {
      dropped = dropped.logical_or(per_condition.select(1, static_cast<int64_t>(k)) < alone_p);
    }
    if (spec.caption_dropout > 0 || alone_p > 0) {
      at::Tensor null = model.NullCaption(static_cast<int64_t>(k)).unsqueeze(0).expand_as(emb);
      emb = at::where(dropped.to(device).view({b, 1, 1}), null, emb);
    }
    s.input.text.push_back({emb, enc.mask.defined() ? enc.mask.to(device) : at::Tensor()});
  }

  const int64_t frames = s.input.x.size(2);
  if (!keeps.empty()) {
    // Open-Sora's image-to-video style conditioning: the first frame is given clean.
    at::Tensor keep_first = at::cat(keeps) < spec.frame_mask_prob;
    at::Tensor mask = at::ones({b, frames}, at::TensorOptions().dtype(at::kBool));
    mask.select(1, 0).copy_(keep_first.logical_not());
    s.frame_mask = mask.to(device);
  }
  s.timesteps = at::cat(timesteps).to(device);
  s.noise = at::stack(noises).to(device);
  return s;
}

}  // namespace modelgrow
