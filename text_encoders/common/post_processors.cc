#include "common/post_processors.h"

#include <limits>
#include <map>
#include <string>

#include "common/tokenizer_error.h"

namespace modelgrow::hf {

namespace {

constexpr std::string_view kSupported =
    "BertProcessing, ByteLevel, RobertaProcessing, Sequence, TemplateProcessing";

EncodingPart Join(std::initializer_list<const EncodingPart*> parts) {
  EncodingPart out;
  for (const EncodingPart* part : parts) {
    out.ids.insert(out.ids.end(), part->ids.begin(), part->ids.end());
    out.type_ids.insert(out.type_ids.end(), part->type_ids.begin(), part->type_ids.end());
  }
  return out;
}

EncodingPart Single(int32_t id, int32_t type_id) { return EncodingPart{{id}, {type_id}}; }

int32_t ParseId(const JsonView& json) {
  const int64_t id = json.Int();
  if (id < 0 || id > std::numeric_limits<int32_t>::max()) json.Fail("id out of range");
  return static_cast<int32_t>(id);
}

// ["[CLS]", 101] as RobertaProcessing and BertProcessing store their tokens.
int32_t ParseTokenPair(const JsonView& json) {
  if (!json.IsArray() || json.Size() != 2) json.Fail("expected [token, id]");
  json.At(0).String();
  return ParseId(json.At(1));
}

// Only offsets change in HF's ByteLevel post-processing; ids pass through.
class ByteLevelProcessor : public PostProcessor {
 public:
  size_t AddedTokens(bool) const override { return 0; }
  std::vector<EncodingPart> Process(std::vector<EncodingPart> parts, bool) const override {
    return parts;
  }
};

class BertProcessor : public PostProcessor {
 public:
  BertProcessor(int32_t sep, int32_t cls) : sep_(sep), cls_(cls) {}
  size_t AddedTokens(bool is_pair) const override { return is_pair ? 3 : 2; }
  std::vector<EncodingPart> Process(std::vector<EncodingPart> parts,
                                    bool add_special_tokens) const override {
    if (!add_special_tokens) return parts;
    std::vector<EncodingPart> out;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i == 0) {
        const EncodingPart cls = Single(cls_, 0), sep = Single(sep_, 0);
        out.push_back(Join({&cls, &parts[i], &sep}));
      } else {
        const EncodingPart sep = Single(sep_, 1);
        out.push_back(Join({&parts[i], &sep}));
      }
    }
    return out;
  }

 private:
  int32_t sep_, cls_;
};

class RobertaProcessor : public PostProcessor {
 public:
  RobertaProcessor(int32_t sep, int32_t cls) : sep_(sep), cls_(cls) {}
  size_t AddedTokens(bool is_pair) const override { return is_pair ? 4 : 2; }
  std::vector<EncodingPart> Process(std::vector<EncodingPart> parts,
                                    bool add_special_tokens) const override {
    // RoBERTa has a single segment: every type id is 0.
    for (EncodingPart& part : parts) part.type_ids.assign(part.ids.size(), 0);
    if (!add_special_tokens) return parts;
    std::vector<EncodingPart> out;
    for (size_t i = 0; i < parts.size(); ++i) {
      const EncodingPart open = Single(i == 0 ? cls_ : sep_, 0), close = Single(sep_, 0);
      out.push_back(Join({&open, &parts[i], &close}));
    }
    return out;
  }

 private:
  int32_t sep_, cls_;
};

class TemplateProcessor : public PostProcessor {
 public:
  struct TemplatePiece {
    bool is_sequence;
    int sequence;          // 0 for $A, 1 for $B
    std::string token_id;  // key into the special tokens
    int32_t type_id;
  };

  TemplateProcessor(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair,
                    std::map<std::string, std::vector<int32_t>> special_tokens)
      : single_(std::move(single)), pair_(std::move(pair)), special_(std::move(special_tokens)) {}

  size_t AddedTokens(bool is_pair) const override {
    size_t count = 0;
    for (const TemplatePiece& piece : is_pair ? pair_ : single_) {
      if (!piece.is_sequence) count += special_.at(piece.token_id).size();
    }
    return count;
  }

  std::vector<EncodingPart> Process(std::vector<EncodingPart> parts,
                                    bool add_special_tokens) const override {
    if (parts.size() != 1 && parts.size() != 2) {
      throw TokenizerError("TemplateProcessing needs one or two sequences, got " +
                           std::to_string(parts.size()));
    }
    const std::vector<TemplatePiece>& pieces = parts.size() == 2 ? pair_ : single_;
    std::vector<EncodingPart> out;
    for (const TemplatePiece& piece : pieces) {
      if (piece.is_sequence) {
        if (piece.sequence >= static_cast<int>(parts.size())) {
          throw TokenizerError("TemplateProcessing: the single template refers to $B");
        }
        EncodingPart part = parts[piece.sequence];
        part.type_ids.assign(part.ids.size(), piece.type_id);
        out.push_back(std::move(part));
      } else if (add_special_tokens) {
        const std::vector<int32_t>& ids = special_.at(piece.token_id);
        out.push_back(EncodingPart{ids, std::vector<int32_t>(ids.size(), piece.type_id)});
      }
    }
    return out;
  }

 private:
  std::vector<TemplatePiece> single_, pair_;
  std::map<std::string, std::vector<int32_t>> special_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  size_t AddedTokens(bool is_pair) const override {
    size_t count = 0;
    for (const auto& part : parts_) count += part->AddedTokens(is_pair);
    return count;
  }
  std::vector<EncodingPart> Process(std::vector<EncodingPart> parts,
                                    bool add_special_tokens) const override {
    for (const auto& part : parts_) parts = part->Process(std::move(parts), add_special_tokens);
    return parts;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::vector<TemplateProcessor::TemplatePiece> ParseTemplate(
    const JsonView& json, const std::map<std::string, std::vector<int32_t>>& special) {
  std::vector<TemplateProcessor::TemplatePiece> pieces;
  for (const JsonView& entry : json.Elements()) {
    if (!entry.IsObject() || entry.Size() != 1) {
      entry.Fail("expected {\"Sequence\": {...}} or {\"SpecialToken\": {...}}");
    }
    if (entry.Has("Sequence")) {
      const JsonView body = entry["Sequence"];
      const std::string id = body["id"].String();
      if (id != "A" && id != "B") body["id"].Fail("expected \"A\" or \"B\", got '" + id + "'");
      pieces.push_back({true, id == "A" ? 0 : 1, "", ParseId(body["type_id"])});
    } else if (entry.Has("SpecialToken")) {
      const JsonView body = entry["SpecialToken"];
      const std::string id = body["id"].String();
      if (!special.contains(id)) {
        body["id"].Fail("special token '" + id + "' is missing from special_tokens");
      }
      pieces.push_back({false, 0, id, ParseId(body["type_id"])});
    } else {
      entry.Fail("expected {\"Sequence\": {...}} or {\"SpecialToken\": {...}}");
    }
  }
  return pieces;
}

}  // namespace

std::unique_ptr<PostProcessor> MakePostProcessor(const JsonView& json) {
  const std::string type = json.Type();
  if (type == "ByteLevel") return std::make_unique<ByteLevelProcessor>();
  if (type == "BertProcessing") {
    return std::make_unique<BertProcessor>(ParseTokenPair(json["sep"]),
                                           ParseTokenPair(json["cls"]));
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<RobertaProcessor>(ParseTokenPair(json["sep"]),
                                              ParseTokenPair(json["cls"]));
  }
  if (type == "TemplateProcessing") {
    std::map<std::string, std::vector<int32_t>> special;
    const JsonView tokens = json["special_tokens"];
    if (!tokens.IsObject()) tokens.Fail("expected an object");
    for (const auto& [key, value] : tokens.node().items()) {
      const JsonView entry = tokens.Member(value, key);
      std::vector<int32_t> ids;
      for (const JsonView& id : entry["ids"].Elements()) ids.push_back(ParseId(id));
      if (entry["tokens"].Size() != ids.size()) {
        entry.Fail("ids and tokens must have the same length");
      }
      entry["id"].String();
      // HF looks the templates' ids up by the map key, not by the entry's own "id".
      special[key] = std::move(ids);
    }
    auto single = ParseTemplate(json["single"], special);
    auto pair = ParseTemplate(json["pair"], special);
    return std::make_unique<TemplateProcessor>(std::move(single), std::move(pair),
                                               std::move(special));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const JsonView& part : json["processors"].Elements()) {
      parts.push_back(MakePostProcessor(part));
    }
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  json.Unsupported(type, kSupported);
}

}  // namespace modelgrow::hf
