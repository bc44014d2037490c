#include "common/model_tokenizer.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

nlohmann::ordered_json ReadConfig(const fs::path& file) {
  if (!fs::is_regular_file(file)) return nlohmann::ordered_json::object();
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(ReadFile(file), nullptr, false);
  if (!config.is_object()) {
    throw InputError(fmt::format("{} is not a JSON object", file.string()));
  }
  return config;
}

bool IsJsonFile(const fs::path& file) { return file.extension() == ".json"; }

// What the slow tokenizer class of a SentencePiece folder adds around a sequence.
std::optional<SentencePieceSpecials> SlowSpecials(const nlohmann::ordered_json& config,
                                                  std::optional<SentencePieceSpecials> fallback) {
  const std::string cls = config.value("tokenizer_class", std::string());
  std::optional<SentencePieceSpecials> out = fallback;
  if (cls == "T5Tokenizer" || cls == "T5TokenizerFast" || cls == "MT5Tokenizer") {
    out = SentencePieceSpecials{.bos = false, .eos = true};
  } else if (cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" ||
             cls == "CodeLlamaTokenizer") {
    out = SentencePieceSpecials{.bos = true, .eos = false};
  }
  auto flag = [&](const char* key, bool& value) {
    if (!config.contains(key)) return;
    if (!config[key].is_boolean()) {
      throw InputError(fmt::format("tokenizer_config.json: {} must be true or false", key));
    }
    if (!out) out = SentencePieceSpecials{};
    value = config[key].get<bool>();
  };
  SentencePieceSpecials flags = out.value_or(SentencePieceSpecials{});
  flag("add_bos_token", flags.bos);
  flag("add_eos_token", flags.eos);
  if (out) out = flags;
  return out;
}

}  // namespace

ModelTokenizer ModelTokenizer::Load(const fs::path& folder, const fs::path& file,
                                    const std::vector<std::string>& sentencepiece_names,
                                    std::optional<SentencePieceSpecials> defaults) {
  ModelTokenizer t;
  fs::path chosen = file;
  if (chosen.empty() && fs::is_regular_file(folder / "tokenizer.json")) {
    chosen = folder / "tokenizer.json";
  }
  const fs::path config_file = folder / "tokenizer_config.json";
  t.config_ = ReadConfig(config_file);
  ContentHash hash("model-tokenizer/1");
  if (!chosen.empty() && IsJsonFile(chosen)) {
    t.kind_ = Kind::kTokenizerJson;
    t.path_ = chosen;
    const fs::path special_file = folder / "special_tokens_map.json";
    const std::string config_text = fs::is_regular_file(config_file) ? ReadFile(config_file) : "";
    const std::string special_text =
        fs::is_regular_file(special_file) ? ReadFile(special_file) : "";
    if (!fs::is_regular_file(chosen)) {
      throw InputError(fmt::format("tokenizer {} does not exist", chosen.string()));
    }
    const std::string json_text = ReadFile(chosen);
    try {
      t.json_ = std::make_shared<const hf::HfTokenizer>(
          hf::HfTokenizer::FromJson(json_text, chosen.string(), config_text, special_text));
    } catch (const hf::TokenizerError& e) {
      throw InputError(e.what());
    }
    hash.Add("tokenizer.json", Sha256Hex(json_text))
        .Add("tokenizer_config.json", Sha256Hex(config_text))
        .Add("special_tokens_map.json", Sha256Hex(special_text));
    t.bos_id_ = t.json_->bos_id().value_or(-1);
    t.eos_id_ = t.json_->eos_id().value_or(-1);
    t.pad_id_ = t.json_->pad_id().value_or(-1);
  } else {
    t.kind_ = Kind::kSentencePiece;
    t.path_ = chosen.empty() ? FindSentencePieceModel(folder, sentencepiece_names) : chosen;
    t.spm_ = SentencePieceTokenizer::Load(t.path_);
    std::optional<SentencePieceSpecials> specials = SlowSpecials(t.config_, defaults);
    if (!specials) {
      throw InputError(fmt::format(
          "{}: a SentencePiece tokenizer, but {} does not say which special tokens it adds "
          "(tokenizer_class T5Tokenizer or LlamaTokenizer, or add_bos_token / add_eos_token)",
          t.path_.string(), config_file.string()));
    }
    t.spm_specials_ = *specials;
    t.bos_id_ = t.spm_.bos_id();
    t.eos_id_ = t.spm_.eos_id();
    t.pad_id_ = t.spm_.pad_id();
    if (t.spm_specials_.bos && t.bos_id_ < 0) {
      throw InputError(
          fmt::format("{} defines no BOS piece, but its tokenizer adds one", t.path_.string()));
    }
    if (t.spm_specials_.eos && t.eos_id_ < 0) {
      throw InputError(
          fmt::format("{} defines no EOS piece, but its tokenizer adds one", t.path_.string()));
    }
    hash.Add("sentencepiece", Sha256Hex(t.spm_.Serialized()))
        .Add("bos", t.spm_specials_.bos ? "1" : "0")
        .Add("eos", t.spm_specials_.eos ? "1" : "0");
  }
  t.fingerprint_ = hash.Hex();
  return t;
}

std::string ModelTokenizer::kind_name() const {
  return kind_ == Kind::kTokenizerJson ? "tokenizer.json" : "sentencepiece";
}

std::vector<int64_t> ModelTokenizer::Encode(const std::string& text, bool add_special_tokens,
                                            int64_t max_length, bool* truncated) const {
  if (kind_ == Kind::kTokenizerJson) {
    std::vector<int32_t> ids;
    try {
      ids = max_length < 0 ? json_->Encode(text, add_special_tokens)
                           : json_->EncodeTruncated(text, add_special_tokens,
                                                    static_cast<size_t>(max_length), truncated);
    } catch (const hf::TokenizerError& e) {
      throw InputError(fmt::format("{}: {}", path_.string(), e.what()));
    }
    if (max_length < 0 && truncated) *truncated = false;
    return {ids.begin(), ids.end()};
  }
  std::vector<int64_t> pieces = spm_.Encode(text);
  const bool bos = add_special_tokens && spm_specials_.bos;
  const bool eos = add_special_tokens && spm_specials_.eos;
  const int64_t specials = (bos ? 1 : 0) + (eos ? 1 : 0);
  if (truncated) *truncated = false;
  if (max_length >= 0) {
    const int64_t room = std::max<int64_t>(0, max_length - specials);
    if (static_cast<int64_t>(pieces.size()) > room) {
      pieces.resize(room);
      if (truncated) *truncated = true;
    }
  }
  std::vector<int64_t> out;
  out.reserve(pieces.size() + 2);
  if (bos) out.push_back(bos_id_);
  out.insert(out.end(), pieces.begin(), pieces.end());
  if (eos) out.push_back(eos_id_);
  return out;
}

std::string ModelTokenizer::Decode(const std::vector<int64_t>& ids,
                                   bool skip_special_tokens) const {
  if (kind_ == Kind::kTokenizerJson) {
    return json_->Decode(std::vector<int32_t>(ids.begin(), ids.end()), skip_special_tokens);
  }
  // SentencePiece renders control pieces (BOS, EOS, padding) as nothing either way.
  return spm_.Decode(ids);
}

std::optional<int64_t> ModelTokenizer::TokenToId(const std::string& token) const {
  if (kind_ == Kind::kTokenizerJson) {
    std::optional<int32_t> id = json_->TokenToId(token);
    if (!id) return std::nullopt;
    return *id;
  }
  const int64_t id = spm_.PieceToId(token);
  // SentencePiece answers unknown pieces with the unknown id.
  if (id < 0 || (id == spm_.unk_id() && token != spm_.IdToPiece(id))) return std::nullopt;
  return id;
}

std::optional<std::string> ModelTokenizer::IdToToken(int64_t id) const {
  if (kind_ == Kind::kTokenizerJson) return json_->IdToToken(static_cast<int32_t>(id));
  if (id < 0 || id >= spm_.vocab_size()) return std::nullopt;
  return spm_.IdToPiece(id);
}

int64_t ModelTokenizer::vocab_size() const {
  return kind_ == Kind::kTokenizerJson ? static_cast<int64_t>(json_->vocab_size(true))
                                       : spm_.vocab_size();
}

std::optional<std::string> ModelTokenizer::bos_token() const {
  if (kind_ == Kind::kTokenizerJson) return json_->bos_token();
  if (bos_id_ < 0) return std::nullopt;
  return spm_.IdToPiece(bos_id_);
}

std::optional<std::string> ModelTokenizer::eos_token() const {
  if (kind_ == Kind::kTokenizerJson) return json_->eos_token();
  if (eos_id_ < 0) return std::nullopt;
  return spm_.IdToPiece(eos_id_);
}

nlohmann::json ModelTokenizer::Describe() const {
  return {{"kind", kind_name()}, {"path", path_.string()}, {"vocab_size", vocab_size()},
          {"bos_id", bos_id_},   {"eos_id", eos_id_},      {"pad_id", pad_id_}};
}

void CheckTokenizerFits(const ModelTokenizer& tokenizer, int64_t vocab_size,
                        const fs::path& config_file) {
  if (tokenizer.vocab_size() > vocab_size) {
    throw InputError(fmt::format(
        "tokenizer {} has {} tokens but {} says vocab_size {}: the tokenizer does not belong to "
        "this model",
        tokenizer.path().string(), tokenizer.vocab_size(), config_file.string(), vocab_size));
  }
}

TokenizedBatch PadBatch(const std::vector<std::vector<int64_t>>& ids, int64_t max_length,
                        int64_t pad_id, int64_t truncated) {
  const int64_t batch = static_cast<int64_t>(ids.size());
  TokenizedBatch out;
  out.ids = at::full({batch, max_length}, pad_id, at::kLong);
  out.mask = at::zeros({batch, max_length}, at::kBool);
  auto id = out.ids.accessor<int64_t, 2>();
  auto mask = out.mask.accessor<bool, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = std::min<int64_t>(max_length, static_cast<int64_t>(ids[b].size()));
    out.lengths.push_back(static_cast<int64_t>(ids[b].size()));
    for (int64_t t = 0; t < n; ++t) {
      id[b][t] = ids[b][t];
      mask[b][t] = true;
    }
  }
  out.truncated = truncated;
  return out;
}

}  // namespace modelgrow
