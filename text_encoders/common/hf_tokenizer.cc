#include "common/hf_tokenizer.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/added_vocabulary.h"
#include "common/decoders.h"
#include "common/json_view.h"
#include "common/normalizers.h"
#include "common/post_processors.h"
#include "common/pre_tokenizers.h"
#include "common/tokenizer_models.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

struct HfTokenizer::Impl {
  std::string source;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  bool track_origins = false;
  std::optional<std::string> bos, eos, pad, unk;
  std::optional<int32_t> bos_id, eos_id, pad_id, unk_id;
  std::vector<std::string> warnings;

  std::optional<int32_t> TokenToId(std::string_view token) const {
    if (auto id = added.TokenToId(token)) return id;
    return model->TokenToId(token);
  }
};

namespace {

std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TokenizerError(file.string() + ": cannot be read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json ParseJson(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text);
    // Not only parse_error: a number too large for a double ("1e999") is an out_of_range.
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError(std::string(source) + ": invalid JSON: " + e.what());
  }
}

// A special token entry of tokenizer_config.json / special_tokens_map.json: a string, an
// AddedToken object {"content": ...}, or null.
std::optional<std::string> SpecialTokenValue(const JsonView& config, std::string_view key) {
  if (!config.Has(key)) return std::nullopt;
  const JsonView value = config[key];
  if (value.IsString()) return value.String();
  if (value.IsObject()) return value["content"].String();
  value.Fail("expected a string, an object with \"content\", or null");
}

AddedToken ParseAddedToken(const JsonView& json) {
  AddedToken token;
  token.content = json["content"].String();
  token.single_word = json.BoolOr("single_word", false);
  token.lstrip = json.BoolOr("lstrip", false);
  token.rstrip = json.BoolOr("rstrip", false);
  token.normalized = json.BoolOr("normalized", true);
  token.special = json.BoolOr("special", false);
  return token;
}

}  // namespace

HfTokenizer HfTokenizer::Load(const std::filesystem::path& path) {
  std::filesystem::path folder = path;
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path)) {
    file = path / "tokenizer.json";
  } else {
    folder = path.parent_path();
  }
  if (!std::filesystem::is_regular_file(file)) {
    throw TokenizerError(file.string() + ": no such file (expected a Hugging Face tokenizer.json" +
                         (std::filesystem::is_directory(path) ? " in this folder)" : ")"));
  }
  const std::filesystem::path config = folder / "tokenizer_config.json";
  const std::filesystem::path special = folder / "special_tokens_map.json";
  const std::string config_text =
      std::filesystem::is_regular_file(config) ? ReadFile(config) : std::string();
  const std::string special_text =
      std::filesystem::is_regular_file(special) ? ReadFile(special) : std::string();
  HfTokenizer tokenizer = FromJson(ReadFile(file), file.string(), config_text, special_text);
  return tokenizer;
}

HfTokenizer HfTokenizer::FromJson(std::string_view tokenizer_json, std::string_view source,
                                  std::string_view tokenizer_config_json,
                                  std::string_view special_tokens_map_json) {
  auto impl = std::make_shared<Impl>();
  impl->source = std::string(source);
  const nlohmann::json document = ParseJson(tokenizer_json, source);
  const JsonView root(document, impl->source);
  if (!root.IsObject()) root.Fail("expected a JSON object");
  if (root.Has("version") && root["version"].String() != "1.0") {
    root["version"].Fail("unknown tokenizer version '" + root["version"].String() +
                         "' (expected 1.0)");
  }
  // Truncation and padding change what Encode returns; the toolkit pads and truncates itself.
  for (const char* key : {"truncation", "padding"}) {
    if (root.Has(key)) root[key].Fail("is not supported (only null)");
  }
  if (root.Has("normalizer")) impl->normalizer = MakeNormalizer(root["normalizer"]);
  PreTokenizerInfo info;
  if (root.Has("pre_tokenizer"))
    impl->pre_tokenizer = MakePreTokenizer(root["pre_tokenizer"], info);
  impl->track_origins = info.needs_origins;
  impl->model = MakeModel(root["model"]);
  if (root.Has("post_processor")) impl->post_processor = MakePostProcessor(root["post_processor"]);
  if (root.Has("decoder")) impl->decoder = MakeDecoder(root["decoder"]);

  if (root.Has("added_tokens")) {
    std::vector<AddedToken> tokens;
    std::vector<std::pair<int64_t, std::string>> declared;
    for (const JsonView& entry : root["added_tokens"].Elements()) {
      tokens.push_back(ParseAddedToken(entry));
      declared.emplace_back(entry["id"].Int(), tokens.back().content);
    }
    impl->added.Add(tokens, *impl->model, impl->normalizer.get());
    for (const auto& [id, content] : declared) {
      const auto actual = impl->TokenToId(content);
      if (actual && *actual != id) {
        impl->warnings.push_back(impl->source + ": added token '" + content + "' declares id " +
                                 std::to_string(id) + " but gets id " + std::to_string(*actual) +
                                 " (as in Hugging Face)");
      }
    }
  }

  // Special tokens: tokenizer_config.json, overridden by special_tokens_map.json unless the
  // config is a current one (with added_tokens_decoder), as transformers resolves them.
  nlohmann::json config_doc, special_doc;
  const std::string config_name = "tokenizer_config.json", special_name = "special_tokens_map.json";
  std::optional<JsonView> config, special_map;
  if (!tokenizer_config_json.empty()) {
    config_doc = ParseJson(tokenizer_config_json, config_name);
    config.emplace(config_doc, config_name);
    if (!config->IsObject()) config->Fail("expected a JSON object");
  }
  if (!special_tokens_map_json.empty()) {
    special_doc = ParseJson(special_tokens_map_json, special_name);
    special_map.emplace(special_doc, special_name);
    if (!special_map->IsObject()) special_map->Fail("expected a JSON object");
  }
  const bool legacy_config = !config || !config->Has("added_tokens_decoder");
  auto resolve = [&](std::string_view key, std::optional<std::string>& token,
                     std::optional<int32_t>& id) {
    std::optional<JsonView> where;
    if (config && config->Has(key)) where = *config;
    if (legacy_config && special_map && special_map->Has(key)) where = *special_map;
    if (!where) return;
    token = SpecialTokenValue(*where, key);
    if (!token) return;
    id = impl->TokenToId(*token);
    if (!id) (*where)[key].Fail("'" + *token + "' is not in the vocabulary");
  };
  resolve("bos_token", impl->bos, impl->bos_id);
  resolve("eos_token", impl->eos, impl->eos_id);
  resolve("pad_token", impl->pad, impl->pad_id);
  resolve("unk_token", impl->unk, impl->unk_id);
  return HfTokenizer(std::move(impl));
}

std::vector<int32_t> HfTokenizer::EncodeOne(std::string_view text, std::string_view which) const {
  const size_t invalid = unicode::FindInvalidUtf8(text);
  if (invalid != std::string_view::npos) {
    throw TokenizerError(std::string(which) + " is not valid UTF-8 (byte " +
                         std::to_string(invalid) + ")");
  }
  std::vector<Piece> pieces =
      impl_->added.ExtractAndNormalize(text, impl_->normalizer.get(), impl_->track_origins);
  if (impl_->pre_tokenizer) impl_->pre_tokenizer->PreTokenize(pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Piece& piece : pieces) {
    if (piece.added_id >= 0) {
      ids.push_back(piece.added_id);
    } else {
      impl_->model->Tokenize(piece.text.text(), ids);
    }
  }
  return ids;
}

std::vector<int32_t> HfTokenizer::PostProcess(std::vector<int32_t> ids,
                                              bool add_special_tokens) const {
  if (!impl_->post_processor) return ids;
  std::vector<EncodingPart> parts(1);
  parts[0].type_ids.assign(ids.size(), 0);
  parts[0].ids = std::move(ids);
  parts = impl_->post_processor->Process(std::move(parts), add_special_tokens);
  std::vector<int32_t> out;
  for (const EncodingPart& part : parts) out.insert(out.end(), part.ids.begin(), part.ids.end());
  return out;
}

std::vector<int32_t> HfTokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  return PostProcess(EncodeOne(text, "text"), add_special_tokens);
}

std::vector<int32_t> HfTokenizer::EncodeTruncated(std::string_view text, bool add_special_tokens,
                                                  size_t max_length, bool* truncated) const {
  std::vector<int32_t> ids = EncodeOne(text, "text");
  // As HF's truncate_encodings: room is made for the tokens the post-processor will add.
  const size_t added =
      add_special_tokens && impl_->post_processor ? impl_->post_processor->AddedTokens(false) : 0;
  const size_t room = max_length > added ? max_length - added : 0;
  if (truncated) *truncated = ids.size() > room;
  if (ids.size() > room) ids.resize(room);
  return PostProcess(std::move(ids), add_special_tokens);
}

Encoding HfTokenizer::EncodePair(std::string_view first, std::string_view second,
                                 bool add_special_tokens) const {
  std::vector<EncodingPart> parts(2);
  parts[0].ids = EncodeOne(first, "first text");
  parts[1].ids = EncodeOne(second, "second text");
  // As HF's PostProcessor::process: each sequence starts with its index as type id.
  parts[0].type_ids.assign(parts[0].ids.size(), 0);
  parts[1].type_ids.assign(parts[1].ids.size(), 1);
  if (impl_->post_processor) {
    parts = impl_->post_processor->Process(std::move(parts), add_special_tokens);
  }
  Encoding out;
  for (const EncodingPart& part : parts) {
    out.ids.insert(out.ids.end(), part.ids.begin(), part.ids.end());
    out.type_ids.insert(out.type_ids.end(), part.type_ids.begin(), part.type_ids.end());
  }
  return out;
}

std::string HfTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* token = impl_->added.IdToToken(id);
    if (!token) token = impl_->model->IdToToken(id);
    if (!token) continue;
    if (skip_special_tokens && impl_->added.IsSpecial(*token)) continue;
    tokens.push_back(*token);
  }
  std::string out;
  if (impl_->decoder) {
    for (const std::string& piece : impl_->decoder->DecodeChain(std::move(tokens))) out += piece;
    return out;
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out += ' ';
    out += tokens[i];
  }
  return out;
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  return impl_->TokenToId(token);
}

std::optional<std::string> HfTokenizer::IdToToken(int32_t id) const {
  if (const std::string* token = impl_->added.IdToToken(id)) return *token;
  if (const std::string* token = impl_->model->IdToToken(id)) return *token;
  return std::nullopt;
}

size_t HfTokenizer::vocab_size(bool with_added_tokens) const {
  size_t size = impl_->model->VocabSize();
  if (!with_added_tokens) return size;
  for (const auto& [content, id] : impl_->added.ids()) {
    if (!impl_->model->TokenToId(content)) ++size;
  }
  return size;
}

bool HfTokenizer::IsSpecialToken(std::string_view token) const {
  return impl_->added.IsSpecial(token);
}

std::optional<int32_t> HfTokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> HfTokenizer::eos_id() const { return impl_->eos_id; }
std::optional<int32_t> HfTokenizer::pad_id() const { return impl_->pad_id; }
std::optional<int32_t> HfTokenizer::unk_id() const { return impl_->unk_id; }
std::optional<std::string> HfTokenizer::bos_token() const { return impl_->bos; }
std::optional<std::string> HfTokenizer::eos_token() const { return impl_->eos; }
std::optional<std::string> HfTokenizer::pad_token() const { return impl_->pad; }
std::optional<std::string> HfTokenizer::unk_token() const { return impl_->unk; }
const std::vector<std::string>& HfTokenizer::warnings() const { return impl_->warnings; }
const std::string& HfTokenizer::source() const { return impl_->source; }

}  // namespace modelgrow::hf
