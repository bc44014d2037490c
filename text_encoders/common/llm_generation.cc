#include "common/llm_generation.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// HF's TopPLogitsWarper: tokens outside the smallest set whose probability reaches top_p get
// -inf (the most probable token always stays).
at::Tensor TopP(const at::Tensor& scores, double top_p) {
  auto [sorted, indices] = scores.sort(/*dim=*/-1, /*descending=*/false);
  at::Tensor cumulative = sorted.softmax(-1).cumsum(-1);
  at::Tensor remove = cumulative <= (1.0 - top_p);
  remove.select(-1, remove.size(-1) - 1).fill_(false);
  at::Tensor scattered = torch::zeros_like(remove).scatter(-1, indices, remove);
  return scores.masked_fill(scattered, -std::numeric_limits<float>::infinity());
}

}  // namespace

GenerationResult Generate(LlamaDecoderImpl& model, const std::vector<int64_t>& prompt,
                          const GenerationOptions& o) {
  if (prompt.empty()) throw InputError("generation needs a prompt of at least one token");
  if (o.max_new_tokens < 1) {
    throw InputError(fmt::format("max_new_tokens must be at least 1, got {}", o.max_new_tokens));
  }
  if (!(o.temperature >= 0)) {
    throw InputError(fmt::format("temperature must be >= 0, got {}", o.temperature));
  }
  if (!(o.top_p > 0 && o.top_p <= 1)) {
    throw InputError(fmt::format("top_p must be in (0, 1], got {}", o.top_p));
  }
  torch::InferenceMode inference;
  auto start = std::chrono::steady_clock::now();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto device = model.embed_tokens->weight.device();
  LlamaKvCache cache;
  at::Tensor input = torch::tensor(prompt, torch::kLong).unsqueeze(0).to(device);
  GenerationResult result;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    at::Tensor logits = model.LogitsCached(input, cache).select(1, -1).squeeze(0).to(at::kCPU);
    if (step == 0) {
      result.prompt_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    int64_t next;
    if (o.temperature == 0) {
      next = logits.argmax().item<int64_t>();
    } else {
      at::Tensor scores = logits / o.temperature;
      if (o.top_p < 1) scores = TopP(scores, o.top_p);
      next = torch::multinomial(scores.softmax(-1), 1, false, gen).item<int64_t>();
    }
    result.ids.push_back(next);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end()) {
      result.stopped = true;
      break;
    }
    input = torch::tensor({next}, torch::kLong).unsqueeze(0).to(device);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace modelgrow
