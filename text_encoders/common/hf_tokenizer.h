// A Hugging Face `tokenizer.json` tokenizer (the format of Llama 3, Qwen2/3, T5 conversions and
// most current models) that produces the same ids as Hugging Face's tokenizers library. Plain
// C++20 with PCRE2 for the regular expressions and ICU for Unicode data.
//
//   auto tokenizer = modelgrow::hf::HfTokenizer::Load("models/llama3");  // folder or file
//   std::vector<int32_t> ids = tokenizer.Encode("a red cube moves left");
//   std::string text = tokenizer.Decode(ids, /*skip_special_tokens=*/true);
//
// Every component type or option value it cannot reproduce exactly is refused at load time with
// a TokenizerError naming the file and JSON path, e.g.
// "tokenizer.json: pre_tokenizer.pretokenizers[1].type: unsupported 'Foo' (supported: ...)".
// Loaded tokenizers are immutable; Encode and Decode may be called from several threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer_error.h"

namespace modelgrow::hf {

// Ids of a single sequence or a pair, with the type (segment) id of each.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class HfTokenizer {
 public:
  // `path` is a folder holding tokenizer.json or the tokenizer.json file itself; the folder's
  // tokenizer_config.json and special_tokens_map.json, when present, name the special tokens.
  // TokenizerError when a file is missing, malformed or uses an unsupported component.
  static HfTokenizer Load(const std::filesystem::path& path);
  // The same from file contents; empty config texts mean "no such file". `source` names the
  // tokenizer.json text in messages.
  static HfTokenizer FromJson(std::string_view tokenizer_json, std::string_view source,
                              std::string_view tokenizer_config_json = {},
                              std::string_view special_tokens_map_json = {});

  // Ids of `text` (UTF-8; TokenizerError naming the byte offset otherwise). With
  // `add_special_tokens` the post-processor adds what the model expects (BOS, </s>, ...).
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens = true) const;
  // HF's encode(text, add_special_tokens, truncation=True, max_length=max_length): the text's own
  // ids cut at the end so that, with the special tokens the post-processor adds, at most
  // max_length remain (the special tokens are always kept). `truncated`, when given, says
  // whether anything was cut.
  std::vector<int32_t> EncodeTruncated(std::string_view text, bool add_special_tokens,
                                       size_t max_length, bool* truncated = nullptr) const;
  // A pair of sequences through the post-processor's pair template.
  Encoding EncodePair(std::string_view first, std::string_view second,
                      bool add_special_tokens = true) const;
  // Text of `ids`; ids the vocabulary does not know are skipped, as HF does.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  std::optional<std::string> IdToToken(int32_t id) const;
  // HF's get_vocab_size: the model's vocabulary, plus the added tokens it does not contain.
  size_t vocab_size(bool with_added_tokens = true) const;
  bool IsSpecialToken(std::string_view token) const;

  // Special tokens from tokenizer_config.json / special_tokens_map.json; nullopt when the
  // configuration names none (or there is no configuration).
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> unk_id() const;
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;
  std::optional<std::string> pad_token() const;
  std::optional<std::string> unk_token() const;

  // Where the file disagrees with what HF computes (an added token whose "id" differs from the
  // id HF assigns it; HF only logs these and uses its own). Empty for consistent files.
  const std::vector<std::string>& warnings() const;
  const std::string& source() const;

 private:
  struct Impl;
  explicit HfTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::vector<int32_t> EncodeOne(std::string_view text, std::string_view which) const;
  std::vector<int32_t> PostProcess(std::vector<int32_t> ids, bool add_special_tokens) const;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace modelgrow::hf
