#include "common/sentencepiece_conversion.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

using ojson = nlohmann::ordered_json;
constexpr const char* kMetaspace = "\xe2\x96\x81";  // "▁"

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

// Byte offsets of the code point boundaries inside `text` (Python slices by code point).
std::vector<size_t> CodePointStarts(const std::string& text) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<uint8_t>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  return starts;
}

size_t CodePoints(const std::string& text) { return CodePointStarts(text).size(); }

ojson TemplatePieces(const std::vector<std::string>& prefix, const std::vector<std::string>& suffix,
                     bool pair) {
  ojson out = ojson::array();
  auto add_sequence = [&](const char* id, int type_id) {
    for (const std::string& p : prefix)
      out.push_back({{"SpecialToken", {{"id", p}, {"type_id", type_id}}}});
    out.push_back({{"Sequence", {{"id", id}, {"type_id", type_id}}}});
    for (const std::string& s : suffix)
      out.push_back({{"SpecialToken", {{"id", s}, {"type_id", type_id}}}});
  };
  add_sequence("A", 0);
  if (pair) add_sequence("B", 1);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SentencePieceMerges(
    const SentencePieceModel& model) {
  std::unordered_map<std::string, size_t> vocab;
  for (size_t id = 0; id < model.pieces.size(); ++id) vocab.emplace(model.pieces[id].piece, id);
  struct Merge {
    std::string left, right;
    float score;
    size_t left_length, right_length;
  };
  std::vector<Merge> merges;
  for (const SentencePieceModel::Piece& piece : model.pieces) {
    const std::vector<size_t> starts = CodePointStarts(piece.piece);
    std::vector<Merge> local;
    for (size_t k = 1; k < starts.size(); ++k) {
      std::string left = piece.piece.substr(0, starts[k]);
      std::string right = piece.piece.substr(starts[k]);
      if (vocab.count(left) && vocab.count(right)) {
        local.push_back({left, right, piece.score, k, starts.size() - k});
      }
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      return std::make_pair(vocab[a.left], vocab[a.right]) <
             std::make_pair(vocab[b.left], vocab[b.right]);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  // Python's sorted(..., reverse=True) is stable: equal keys keep their order.
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    return std::tie(a.score, a.left_length, a.right_length) >
           std::tie(b.score, b.left_length, b.right_length);
  });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (Merge& m : merges) out.emplace_back(std::move(m.left), std::move(m.right));
  return out;
}

nlohmann::ordered_json SentencePieceToTokenizerJson(const SentencePieceModel& model,
                                                    const SentencePieceConversion& options) {
  using Type = SentencePieceModel::PieceType;
  if (model.model_type != 1 && model.model_type != 2) {
    throw InputError(fmt::format(
        "SentencePiece model type {} cannot be converted to tokenizer.json (unigram or bpe only)",
        model.model_type));
  }
  if (model.byte_fallback) {
    throw InputError(
        "a SentencePiece model with byte_fallback is not converted here (transformers handles it "
        "per model family; the toolkit's tiny models never use it)");
  }
  std::map<std::string, int64_t> ids;
  for (size_t id = 0; id < model.pieces.size(); ++id) ids.emplace(model.pieces[id].piece, id);

  ojson added = ojson::array();
  for (size_t id = 0; id < model.pieces.size(); ++id) {
    const SentencePieceModel::Piece& p = model.pieces[id];
    if (p.type != Type::kUnknown && p.type != Type::kControl && p.type != Type::kUserDefined) {
      continue;
    }
    added.push_back({{"id", id},
                     {"content", p.piece},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", p.type != Type::kUserDefined}});
  }

  ojson normalizers = ojson::array();
  if (!model.precompiled_charsmap.empty()) {
    normalizers.push_back(
        {{"type", "Precompiled"}, {"precompiled_charsmap", Base64(model.precompiled_charsmap)}});
  }
  normalizers.push_back({{"type", "Strip"}, {"strip_left", false}, {"strip_right", true}});
  normalizers.push_back(
      {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", kMetaspace}});

  const std::string prepend =
      !model.add_dummy_prefix ? "never" : (options.legacy ? "always" : "first");
  ojson metaspace = {{"type", "Metaspace"},
                     {"replacement", kMetaspace},
                     {"prepend_scheme", prepend},
                     {"split", true}};

  ojson special_tokens = ojson::object();
  for (const std::vector<std::string>* list : {&options.prefix, &options.suffix}) {
    for (const std::string& piece : *list) {
      auto it = ids.find(piece);
      if (it == ids.end()) {
        throw InputError(fmt::format("special token '{}' is not a piece of the model", piece));
      }
      special_tokens[piece] = {
          {"id", piece}, {"ids", ojson::array({it->second})}, {"tokens", ojson::array({piece})}};
    }
  }
  ojson post_processor = nullptr;
  if (!options.prefix.empty() || !options.suffix.empty()) {
    post_processor = {{"type", "TemplateProcessing"},
                      {"single", TemplatePieces(options.prefix, options.suffix, false)},
                      {"pair", TemplatePieces(options.prefix, options.suffix, true)},
                      {"special_tokens", special_tokens}};
  }

  ojson model_json;
  if (model.model_type == 1) {
    ojson vocab = ojson::array();
    // ojson::array: a two-element list starting with a string would otherwise become an object.
    for (const SentencePieceModel::Piece& p : model.pieces) {
      vocab.push_back(ojson::array({p.piece, p.score}));
    }
    model_json = {
        {"type", "Unigram"}, {"unk_id", model.unk_id}, {"vocab", vocab}, {"byte_fallback", false}};
  } else {
    ojson vocab = ojson::object();
    for (size_t id = 0; id < model.pieces.size(); ++id) vocab[model.pieces[id].piece] = id;
    ojson merges = ojson::array();
    for (auto& [left, right] : SentencePieceMerges(model)) {
      merges.push_back(ojson::array({left, right}));
    }
    model_json = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", model.unk_piece},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", true},
                  {"byte_fallback", false},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", merges}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", normalizers}}},
          {"pre_tokenizer", metaspace},
          {"post_processor", post_processor},
          {"decoder", metaspace},
          {"model", model_json}};
}

}  // namespace modelgrow
