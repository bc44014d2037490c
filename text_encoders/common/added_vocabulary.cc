#include "common/added_vocabulary.h"

#include <algorithm>

#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

uint64_t EdgeKey(uint32_t node, unsigned char byte) {
  return (static_cast<uint64_t>(node) << 8) | byte;
}

// The regex crate's ^\w and \w$ on the text around a single_word token.
bool EndsWithWord(std::string_view text) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  size_t length = 0;
  return unicode::IsWordChar(unicode::DecodeAt(text, start, &length));
}

bool StartsWithWord(std::string_view text) {
  if (text.empty()) return false;
  size_t length = 0;
  return unicode::IsWordChar(unicode::DecodeAt(text, 0, &length));
}

// Where the trailing whitespace of `text` starts (\s*$).
size_t TrailingSpaceStart(std::string_view text) {
  size_t pos = text.size();
  while (pos > 0) {
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t length = 0;
    if (!unicode::IsWhitespace(unicode::DecodeAt(text, start, &length))) break;
    pos = start;
  }
  return pos;
}

// Length of the leading whitespace of `text` (^\s*).
size_t LeadingSpaceLength(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = 0;
    if (!unicode::IsWhitespace(unicode::DecodeAt(text, pos, &length))) break;
    pos += length;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Matcher::Build(const std::vector<std::pair<std::string, int32_t>>& patterns) {
  edges_.clear();
  terminal_.assign(1, -1);
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  for (const auto& [pattern, id] : patterns) {
    if (pattern.empty()) continue;
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
    uint32_t node = 0;
    for (char c : pattern) {
      const uint64_t key = EdgeKey(node, static_cast<unsigned char>(c));
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        const auto child = static_cast<uint32_t>(terminal_.size());
        terminal_.push_back(-1);
        edges_.emplace(key, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    terminal_[node] = id;
  }
}

bool AddedVocabulary::Matcher::Next(std::string_view text, size_t from, size_t* start, size_t* end,
                                    int32_t* id) const {
  if (empty()) return false;
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
    uint32_t node = 0;
    int32_t found = -1;
    size_t found_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = edges_.find(EdgeKey(node, static_cast<unsigned char>(text[j])));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node] >= 0) {
        found = terminal_[node];
        found_end = j + 1;
      }
    }
    if (found >= 0) {
      *start = i;
      *end = found_end;
      *id = found;
      return true;
    }
  }
  return false;
}

void AddedVocabulary::Add(const std::vector<AddedToken>& tokens, const Model& model,
                          const Normalizer* normalizer) {
  const auto model_size = static_cast<int32_t>(model.VocabSize());
  int32_t next_id = model_size;
  if (!tokens_.empty()) {
    int32_t max_id = 0;
    for (const auto& [id, token] : tokens_) max_id = std::max(max_id, id);
    if (max_id >= model_size || model_size == 0) next_id = max_id + 1;
  }
  for (const AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    if (auto existing = ids_.find(token.content); existing != ids_.end()) {
      auto same = tokens_.find(existing->second);
      if (same != tokens_.end() && same->second == token) continue;
    }
    int32_t id;
    if (auto known = TokenToId(token.content)) {
      id = *known;
    } else if (auto in_model = model.TokenToId(token.content)) {
      id = *in_model;
    } else {
      id = next_id++;
    }
    if (token.normalized && normalizer) {
      NormalizedString text(token.content, false);
      normalizer->Normalize(text);
      if (text.text() != token.content) normalized_forms_[id] = text.text();
    }
    ids_[token.content] = id;
    if (token.special) special_.insert(token.content);
    tokens_[id] = token;
  }
  Rebuild();
}

void AddedVocabulary::Rebuild() {
  std::vector<std::pair<std::string, int32_t>> raw, normalized;
  for (const auto& [id, token] : tokens_) {
    if (token.normalized) {
      auto form = normalized_forms_.find(id);
      normalized.emplace_back(form != normalized_forms_.end() ? form->second : token.content, id);
    } else {
      raw.emplace_back(token.content, id);
    }
  }
  raw_matcher_.Build(raw);
  normalized_matcher_.Build(normalized);
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = ids_.find(std::string(content));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::IdToToken(int32_t id) const {
  auto form = normalized_forms_.find(id);
  if (form != normalized_forms_.end()) return &form->second;
  auto token = tokens_.find(id);
  return token == tokens_.end() ? nullptr : &token->second.content;
}

const AddedToken* AddedVocabulary::TokenOf(int32_t id) const {
  auto token = tokens_.find(id);
  return token == tokens_.end() ? nullptr : &token->second;
}

void AddedVocabulary::SplitOnMatches(const NormalizedString& text, const Matcher& matcher,
                                     std::vector<Piece>& out) const {
  const std::string& s = text.text();
  auto push = [&](size_t begin, size_t end, int32_t id) {
    if (begin < end) out.push_back(Piece{text.Slice(begin, end), id});
  };
  size_t start_offset = 0;
  size_t search_from = 0;
  size_t start = 0, stop = 0;
  int32_t id = -1;
  // The scan resumes after each raw match, kept or not, as the Aho-Corasick iterator does.
  while (matcher.Next(s, search_from, &start, &stop, &id)) {
    search_from = stop;
    const AddedToken& token = tokens_.at(id);
    if (token.single_word) {
      const bool start_space = start == 0 || !EndsWithWord(std::string_view(s).substr(0, start));
      const bool stop_space = stop == s.size() || !StartsWithWord(std::string_view(s).substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      start = std::max(TrailingSpaceStart(std::string_view(s).substr(0, start)), start_offset);
    }
    if (token.rstrip) stop += LeadingSpaceLength(std::string_view(s).substr(stop));
    if (start_offset < start) push(start_offset, start, -1);
    push(start, stop, id);
    start_offset = stop;
  }
  if (start_offset < s.size()) push(start_offset, s.size(), -1);
}

std::vector<Piece> AddedVocabulary::ExtractAndNormalize(std::string_view text,
                                                        const Normalizer* normalizer,
                                                        bool track_origins) const {
  std::vector<Piece> pieces;
  if (text.empty()) return pieces;
  NormalizedString whole{std::string(text), track_origins};
  std::vector<Piece> raw;
  SplitOnMatches(whole, raw_matcher_, raw);
  for (Piece& piece : raw) {
    if (piece.added_id >= 0) {
      pieces.push_back(std::move(piece));
      continue;
    }
    if (normalizer) normalizer->Normalize(piece.text);
    SplitOnMatches(piece.text, normalized_matcher_, pieces);
  }
  return pieces;
}

}  // namespace modelgrow::hf
