// The SDK's TextTokenizer over a model folder's ModelTokenizer: what the text plugins offer as
// their `Tokenizer` (`modelgrow text tokenize`). Options: `path` (the folder, required) and
// `tokenizer` (a tokenizer.json or SentencePiece file used instead of the folder's).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "common/model_tokenizer.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_tokenizer.h"

namespace modelgrow {

class FolderTokenizer : public TextTokenizer {
 public:
  explicit FolderTokenizer(const PluginContext& context);
  void Load() override;
  std::vector<int64_t> Encode(const std::string& text, bool add_special_tokens) override;
  std::string Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) override;
  nlohmann::json Describe() const override;

 private:
  std::filesystem::path folder_, file_;
  std::optional<ModelTokenizer> tokenizer_;
};

}  // namespace modelgrow
