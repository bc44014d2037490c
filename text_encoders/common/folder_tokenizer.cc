#include "common/folder_tokenizer.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

FolderTokenizer::FolderTokenizer(const PluginContext& context) {
  folder_ = context.options.RequireString("path");
  file_ = context.options.String("tokenizer", "");
}

void FolderTokenizer::Load() {
  if (tokenizer_) return;
  if (!std::filesystem::is_directory(folder_)) {
    throw InputError(fmt::format("{} is not a folder", folder_.string()));
  }
  // No guess for a SentencePiece folder that does not say which special tokens its tokenizer
  // adds: Hugging Face would not know either.
  tokenizer_ =
      ModelTokenizer::Load(folder_, file_, {"tokenizer.model", "spiece.model"}, std::nullopt);
}

std::vector<int64_t> FolderTokenizer::Encode(const std::string& text, bool add_special_tokens) {
  Load();
  return tokenizer_->Encode(text, add_special_tokens);
}

std::string FolderTokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) {
  Load();
  return tokenizer_->Decode(ids, skip_special_tokens);
}

nlohmann::json FolderTokenizer::Describe() const {
  if (!tokenizer_) return {{"path", folder_.string()}};
  return tokenizer_->Describe();
}

}  // namespace modelgrow
