// A model folder's tokenizer, offered by text plugins whose models have one (`modelgrow text
// tokenize`). A plugin offers it by declaring a nested `Tokenizer` class; like a plugin it is
// constructed from options alone (the folder is `path`) and reads files only in Load().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // Reads the folder's tokenizer. InputError, naming the folder, when it has no usable one.
  virtual void Load() = 0;
  // The ids of `text`, with the special tokens the tokenizer adds when add_special_tokens (as
  // Hugging Face's tokenizer(text, add_special_tokens=...)).
  virtual std::vector<int64_t> Encode(const std::string& text, bool add_special_tokens) = 0;
  virtual std::string Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) = 0;
  // Facts for people (kind, file, vocabulary size, special ids).
  virtual nlohmann::json Describe() const { return nlohmann::json::object(); }
};

}  // namespace modelgrow
