// Prompt rewriting with a Llama-family folder (the llm plugin's `Rewriter`): the short prompt as
// the user turn after the rewriting instruction, rendered by the folder's chat template with the
// assistant header added, then KV-cached generation until a stop token or the token budget.
//
// Options (besides `path`, the folder):
//   max_new_tokens  128     the token budget
//   temperature     0       0: greedy; > 0: sampling
//   top_p           1.0     nucleus sampling (0, 1]
//   seed            0       the sampling generator's seed
//   stop_tokens     []      extra stop tokens (each one token of the vocabulary); always: the
//                           tokenizer's EOS and config.json / generation_config.json eos_token_id
//   system_prompt   kRewriteSystemPrompt ("" for none)
//   chat_template   ""      a Jinja chat template instead of the folder's
//   dtype, device           as for the encoder
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "common/llama_decoder.h"
#include "common/llm_generation.h"
#include "common/llm_prompt.h"
#include "common/model_tokenizer.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/prompt_rewriter.h"

namespace modelgrow {

class LlmRewriter : public PromptRewriter {
 public:
  explicit LlmRewriter(const PluginContext& context);
  void Load() override;
  RewriteResult Rewrite(const std::string& prompt) override;
  std::string CacheKey() const override;
  nlohmann::json Describe() const override;

 private:
  std::filesystem::path folder_;
  GenerationOptions generation_;
  std::vector<std::string> stop_tokens_;
  std::string system_prompt_, chat_template_;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);

  LlamaDecoder model_{nullptr};
  std::shared_ptr<const ModelTokenizer> tokenizer_;
  std::optional<LlmPromptFormat> format_;
  std::string key_;
  std::mutex mutex_;
};

// The ids generation stops at by default: the tokenizer's EOS and every eos_token_id of the
// folder's config.json and generation_config.json (an id or a list).
std::vector<int64_t> DefaultStopIds(const std::filesystem::path& folder,
                                    const ModelTokenizer& tokenizer);

}  // namespace modelgrow
