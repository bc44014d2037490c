#include "common/tokenizer_models.h"

#include <algorithm>

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "common/flat_maps.h"
#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

constexpr std::string_view kSupported = "BPE, Unigram, WordLevel, WordPiece";

// "<0x0A>": the byte-fallback token of one byte.
std::string ByteToken(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "<0x%02X>", byte);
  return buffer;
}

// Forward and reverse vocabulary of the models whose JSON vocab is an object token -> id.
struct Vocabulary {
  StringIdMap ids;
  // Hashed, not a vector indexed by id: HF allows any u32 id, and a file with a token of id
  // ~1.1e9 must not cost 35 GB (CI's fuzzer found that).
  std::unordered_map<int32_t, std::string> tokens;

  void Load(const JsonView& vocab) {
    if (!vocab.IsObject()) vocab.Fail("expected an object mapping tokens to ids");
    const nlohmann::json& node = vocab.node();
    ids.Reserve(node.size());
    for (auto it = node.begin(); it != node.end(); ++it) {
      const nlohmann::json& value = it.value();
      if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
          value.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        vocab.Member(value, it.key()).Int();  // the typed error, with the token in the path
        vocab.Member(value, it.key()).Fail("id out of range");
      }
      ids.Set(it.key(), static_cast<int32_t>(value.get<int64_t>()));
    }
    tokens.reserve(ids.size());
    ids.ForEach([&](std::string_view token, int32_t id) { tokens[id] = std::string(token); });
  }

  std::optional<int32_t> Find(std::string_view token) const { return ids.Find(token); }

  const std::string* Token(int32_t id) const {
    auto it = tokens.find(id);
    return it == tokens.end() ? nullptr : &it->second;
  }
};

std::optional<std::string> OptionalString(const JsonView& json, std::string_view key) {
  if (!json.Has(key)) return std::nullopt;
  return json[key].String();
}

// Results of BPE on whole words, shared by all threads: sharded so that concurrent Encode calls
// rarely wait on each other.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;  // as HF: longer words are not cached

  bool Find(std::string_view word, std::vector<int32_t>& ids) const {
    const Shard& shard = ShardOf(word);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.words.find(word);
    if (it == shard.words.end()) return false;
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    return true;
  }

  void Insert(std::string_view word, const int32_t* ids, size_t count) const {
    if (word.size() >= kMaxWordBytes) return;
    Shard& shard = ShardOf(word);
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.words.size() >= kWordsPerShard) return;
    shard.words.emplace(std::string(word), std::vector<int32_t>(ids, ids + count));
  }

 private:
  static constexpr size_t kShards = 64;
  static constexpr size_t kWordsPerShard = 2048;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
  };
  Shard& ShardOf(std::string_view word) const { return shards_[StringHash{}(word) % kShards]; }
  mutable std::array<Shard, kShards> shards_;
};

class BpeModel : public Model {
 public:
  explicit BpeModel(const JsonView& json) {
    if (json.Has("dropout")) {
      const double dropout = json["dropout"].Number();
      // HF samples merges at random when dropout > 0; results would not be reproducible.
      if (dropout != 0.0) {
        json["dropout"].Fail("BPE dropout " + std::to_string(dropout) +
                             " is not supported (only null or 0)");
      }
    }
    vocab_.Load(json["vocab"]);
    unk_token_ = OptionalString(json, "unk_token");
    prefix_ = OptionalString(json, "continuing_subword_prefix");
    suffix_ = OptionalString(json, "end_of_word_suffix");
    fuse_unk_ = json.BoolOr("fuse_unk", false);
    byte_fallback_ = json.BoolOr("byte_fallback", false);
    ignore_merges_ = json.BoolOr("ignore_merges", false);
    if (unk_token_) unk_id_ = vocab_.Find(*unk_token_);
    LoadMerges(json["merges"]);
    if (byte_fallback_) {
      for (int b = 0; b < 256; ++b) {
        auto id = vocab_.Find(ByteToken(static_cast<unsigned char>(b)));
        byte_ids_[b] = id ? *id : -1;
      }
    }
  }

  void Tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    if (ignore_merges_) {
      if (auto id = vocab_.Find(piece)) {
        ids.push_back(*id);
        return;
      }
    }
    if (cache_.Find(piece, ids)) return;
    const size_t before = ids.size();
    MergeWord(piece, ids);
    cache_.Insert(piece, ids.data() + before, ids.size() - before);
  }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    return vocab_.Find(token);
  }
  const std::string* IdToToken(int32_t id) const override { return vocab_.Token(id); }
  size_t VocabSize() const override { return vocab_.ids.size(); }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    size_t length;  // bytes; 0 once merged into its left neighbour
  };
  struct Candidate {
    uint32_t rank;
    size_t pos;
    int32_t new_id;
    // The queue pops the lowest rank, then the leftmost position.
    bool operator<(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };

  void LoadMerges(const JsonView& merges) {
    if (!merges.IsArray()) merges.Fail("expected an array of merges");
    const nlohmann::json& list = merges.node();
    merges_.Reserve(list.size());
    const size_t prefix_length = prefix_ ? prefix_->size() : 0;
    std::string merged;
    for (size_t rank = 0; rank < list.size(); ++rank) {
      const nlohmann::json& entry = list[rank];
      std::string_view a, b;
      if (entry.is_string()) {
        const std::string& line = entry.get_ref<const std::string&>();
        const size_t space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
          merges.Element(entry, rank)
              .Fail("expected a merge \"left right\" with exactly one space, got '" + line + "'");
        }
        a = std::string_view(line).substr(0, space);
        b = std::string_view(line).substr(space + 1);
      } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
                 entry[1].is_string()) {
        a = entry[0].get_ref<const std::string&>();
        b = entry[1].get_ref<const std::string&>();
      } else {
        merges.Element(entry, rank)
            .Fail("expected a merge as \"left right\" or [\"left\", \"right\"]");
      }
      const auto a_id = vocab_.Find(a);
      const auto b_id = vocab_.Find(b);
      if (!a_id || !b_id) {
        merges.Element(entry, rank)
            .Fail("merge token '" + std::string(a_id ? b : a) + "' is not in the vocabulary");
      }
      if (b.size() < prefix_length) {
        merges.Element(entry, rank)
            .Fail("merge token '" + std::string(b) + "' is shorter than continuing_subword_prefix");
      }
      merged.assign(a);
      merged.append(b.substr(prefix_length));
      const auto new_id = vocab_.Find(merged);
      if (!new_id) {
        merges.Element(entry, rank).Fail("merged token '" + merged + "' is not in the vocabulary");
      }
      // A repeated pair keeps its last rank, as HF's map does.
      merges_.Set(*a_id, *b_id, {static_cast<uint32_t>(rank), *new_id});
    }
  }

  const MergeMap::Merge* FindMerge(int32_t a, int32_t b) const { return merges_.Find(a, b); }

  // HF's BPE::merge_word followed by Word::merge_all (without dropout).
  void MergeWord(std::string_view word, std::vector<int32_t>& ids) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int32_t id, size_t length) {
      const auto index = static_cast<int32_t>(symbols.size());
      if (!symbols.empty()) symbols.back().next = index;
      symbols.push_back({id, index - 1, -1, length});
    };
    bool has_unk = false;  // a pending unknown piece
    int32_t unk_id = 0;
    size_t unk_length = 0;
    std::string unit;
    size_t pos = 0;
    while (pos < word.size()) {
      const size_t length = unicode::SequenceLength(static_cast<unsigned char>(word[pos]));
      const bool first = pos == 0;
      const bool last = pos + length >= word.size();
      unit.clear();
      if (!first && prefix_) unit += *prefix_;
      unit.append(word.substr(pos, length));
      if (last && suffix_) unit += *suffix_;
      pos += length;
      if (auto id = vocab_.Find(unit)) {
        if (has_unk) {
          add(unk_id, unk_length);
          has_unk = false;
        }
        add(*id, length);
        continue;
      }
      if (byte_fallback_) {
        bool all_bytes = true;
        for (char c : unit) all_bytes &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
        if (all_bytes) {
          // HF pushes each byte token with a length of 1 byte, prefix bytes included.
          for (char c : unit) add(byte_ids_[static_cast<unsigned char>(c)], 1);
          continue;
        }
      }
      if (unk_token_) {
        if (!unk_id_) {
          throw TokenizerError("BPE unk_token '" + *unk_token_ + "' is not in the vocabulary");
        }
        if (has_unk && fuse_unk_) {
          unk_length += length;
        } else {
          if (has_unk) add(unk_id, unk_length);
          has_unk = true;
          unk_id = *unk_id_;
          unk_length = length;
        }
      }
    }
    if (has_unk) add(unk_id, unk_length);

    std::priority_queue<Candidate> queue;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const auto* merge = FindMerge(symbols[i].id, symbols[i + 1].id)) {
        queue.push({merge->rank, i, merge->new_id});
      }
    }
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& current = symbols[top.pos];
      if (current.length == 0 || current.next == -1) continue;
      const Symbol right = symbols[current.next];
      const auto* merge = FindMerge(current.id, right.id);
      if (!merge || merge->new_id != top.new_id) continue;  // stale entry
      current.id = top.new_id;
      current.length += right.length;
      symbols[current.next].length = 0;
      current.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = static_cast<int32_t>(top.pos);
      if (current.prev >= 0) {
        const Symbol& previous = symbols[current.prev];
        if (const auto* m = FindMerge(previous.id, current.id)) {
          queue.push({m->rank, static_cast<size_t>(current.prev), m->new_id});
        }
      }
      if (current.next >= 0) {
        if (const auto* m = FindMerge(current.id, symbols[current.next].id)) {
          queue.push({m->rank, top.pos, m->new_id});
        }
      }
    }
    for (const Symbol& symbol : symbols) {
      if (symbol.length != 0) ids.push_back(symbol.id);
    }
  }

  Vocabulary vocab_;
  MergeMap merges_;
  std::optional<std::string> unk_token_, prefix_, suffix_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};
  WordCache cache_;
};

// A byte trie over the Unigram pieces for common-prefix search.
class PieceTrie {
 public:
  void Insert(std::string_view piece, int32_t id) {
    uint32_t node = 0;
    for (char c : piece) {
      const uint64_t key = Key(node, c);
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

  // Calls `visit(length, id)` for every piece that is a prefix of `text`, shortest first.
  template <typename Visit>
  void PrefixesOf(std::string_view text, Visit visit) const {
    uint32_t node = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      auto it = edges_.find(Key(node, text[i]));
      if (it == edges_.end()) return;
      node = it->second;
      if (terminal_[node] >= 0) visit(i + 1, terminal_[node]);
    }
  }

 private:
  static uint64_t Key(uint32_t node, char c) {
    return (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
  }
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<int32_t> terminal_ = {-1};
};

class UnigramModel : public Model {
 public:
  explicit UnigramModel(const JsonView& json) {
    const JsonView vocab = json["vocab"];
    if (!vocab.IsArray()) vocab.Fail("expected an array of [piece, score]");
    const nlohmann::json& entries = vocab.node();
    pieces_.reserve(entries.size());
    scores_.reserve(entries.size());
    ids_.Reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const nlohmann::json& entry = entries[i];
      if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() ||
          !entry[1].is_number()) {
        vocab.Element(entry, i).Fail("expected [piece, score]");
      }
      pieces_.push_back(entry[0].get<std::string>());
      scores_.push_back(entry[1].get<double>());
      ids_.Set(pieces_.back(), static_cast<int32_t>(i));
    }
    if (json.Has("unk_id")) {
      const int64_t unk = json["unk_id"].Int();
      if (pieces_.empty()) json["vocab"].Fail("the vocabulary is empty but unk_id is set");
      if (unk < 0 || static_cast<size_t>(unk) >= pieces_.size()) {
        json["unk_id"].Fail("unk_id " + std::to_string(unk) + " is outside the vocabulary");
      }
      unk_id_ = static_cast<int32_t>(unk);
    }
    byte_fallback_ = json.BoolOr("byte_fallback", false);
    min_score_ = std::numeric_limits<double>::infinity();
    for (double score : scores_) min_score_ = std::min(min_score_, score);
    // Later duplicates win the id, as in HF's token map.
    for (size_t i = 0; i < pieces_.size(); ++i) trie_.Insert(pieces_[i], *ids_.Find(pieces_[i]));
  }

  void Tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    const std::vector<std::string_view> strings = Viterbi(piece);
    for (std::string_view s : strings) {
      if (auto id = ids_.Find(s)) {
        ids.push_back(*id);
        continue;
      }
      if (byte_fallback_) {
        std::vector<int32_t> bytes;
        for (char c : s) {
          auto byte = ids_.Find(ByteToken(static_cast<unsigned char>(c)));
          if (!byte) break;
          bytes.push_back(*byte);
        }
        if (bytes.size() == s.size()) {
          ids.insert(ids.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      ids.push_back(RequireUnk());
    }
  }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    return ids_.Find(token);
  }
  const std::string* IdToToken(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return nullptr;
    return &pieces_[id];
  }
  size_t VocabSize() const override { return pieces_.size(); }

 private:
  static constexpr double kUnkPenalty = 10.0;

  int32_t RequireUnk() const {
    if (!unk_id_) throw TokenizerError("Unigram: an unknown piece needs unk_id, which is null");
    return *unk_id_;
  }

  // HF's Unigram::encode_optimized: the best-scoring segmentation, consecutive unknown
  // characters fused into one piece.
  std::vector<std::string_view> Viterbi(std::string_view text) const {
    struct Best {
      int32_t id = 0;
      double score = 0.0;
      size_t start = 0;
      bool set = false;
    };
    const double unk_score = min_score_ - kUnkPenalty;
    std::vector<Best> best(text.size() + 1);
    size_t start = 0;
    while (start < text.size()) {
      const double score_here = best[start].score;
      const size_t char_length = unicode::SequenceLength(static_cast<unsigned char>(text[start]));
      bool has_single = false;
      trie_.PrefixesOf(text.substr(start), [&](size_t length, int32_t id) {
        Best& target = best[start + length];
        const double candidate = scores_[id] + score_here;
        if (!target.set || candidate > target.score) {
          target = {id, candidate, start, true};
        }
        has_single |= length == char_length;
      });
      if (!has_single) {
        Best& target = best[start + char_length];
        const double candidate = unk_score + score_here;
        if (!target.set || candidate > target.score) {
          target = {RequireUnk(), candidate, start, true};
        }
      }
      start += char_length;
    }
    std::vector<std::string_view> reversed;
    size_t end = text.size();
    size_t fused_start = std::string_view::npos, fused_end = 0;
    while (end > 0) {
      const Best& node = best[end];
      if (unk_id_ && node.id == *unk_id_) {
        if (fused_start == std::string_view::npos) fused_end = end;
        fused_start = node.start;
      } else {
        if (fused_start != std::string_view::npos) {
          reversed.push_back(text.substr(fused_start, fused_end - fused_start));
          fused_start = std::string_view::npos;
        }
        reversed.push_back(text.substr(node.start, end - node.start));
      }
      end = node.start;
    }
    if (fused_start != std::string_view::npos) {
      reversed.push_back(text.substr(fused_start, fused_end - fused_start));
    }
    return {reversed.rbegin(), reversed.rend()};
  }

  std::vector<std::string> pieces_;
  std::vector<double> scores_;
  StringIdMap ids_;
  PieceTrie trie_;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
  double min_score_ = 0.0;
};

class WordPieceModel : public Model {
 public:
  explicit WordPieceModel(const JsonView& json) {
    vocab_.Load(json["vocab"]);
    unk_token_ = json.StringOr("unk_token", "[UNK]");
    prefix_ = json.StringOr("continuing_subword_prefix", "##");
    const int64_t max_chars = json.IntOr("max_input_chars_per_word", 100);
    if (max_chars < 0) json["max_input_chars_per_word"].Fail("expected a non-negative integer");
    max_chars_ = static_cast<size_t>(max_chars);
  }

  void Tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    size_t chars = 0;
    for (char c : piece) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (chars > max_chars_) {
      ids.push_back(Unk());
      return;
    }
    const size_t before = ids.size();
    std::string candidate;
    size_t start = 0;
    while (start < piece.size()) {
      size_t end = piece.size();
      bool found = false;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(piece.substr(start, end - start));
        if (auto id = vocab_.Find(candidate)) {
          ids.push_back(*id);
          found = true;
          break;
        }
        // Drop the last character of the candidate.
        size_t back = end - 1;
        while (back > start && (static_cast<unsigned char>(piece[back]) & 0xC0) == 0x80) --back;
        end = back;
      }
      if (!found) {
        ids.resize(before);
        ids.push_back(Unk());
        return;
      }
      start = end;
    }
  }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    return vocab_.Find(token);
  }
  const std::string* IdToToken(int32_t id) const override { return vocab_.Token(id); }
  size_t VocabSize() const override { return vocab_.ids.size(); }

 private:
  int32_t Unk() const {
    auto id = vocab_.Find(unk_token_);
    if (!id)
      throw TokenizerError("WordPiece unk_token '" + unk_token_ + "' is not in the vocabulary");
    return *id;
  }

  Vocabulary vocab_;
  std::string unk_token_, prefix_;
  size_t max_chars_ = 100;
};

class WordLevelModel : public Model {
 public:
  explicit WordLevelModel(const JsonView& json) {
    vocab_.Load(json["vocab"]);
    unk_token_ = json.StringOr("unk_token", "<unk>");
  }

  void Tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    if (auto id = vocab_.Find(piece)) {
      ids.push_back(*id);
    } else if (auto unk = vocab_.Find(unk_token_)) {
      ids.push_back(*unk);
    } else {
      throw TokenizerError("WordLevel unk_token '" + unk_token_ + "' is not in the vocabulary");
    }
  }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    return vocab_.Find(token);
  }
  const std::string* IdToToken(int32_t id) const override { return vocab_.Token(id); }
  size_t VocabSize() const override { return vocab_.ids.size(); }

 private:
  Vocabulary vocab_;
  std::string unk_token_;
};

}  // namespace

std::unique_ptr<Model> MakeModel(const JsonView& json) {
  const std::string type = json.Type();
  if (type == "BPE") return std::make_unique<BpeModel>(json);
  if (type == "Unigram") return std::make_unique<UnigramModel>(json);
  if (type == "WordPiece") return std::make_unique<WordPieceModel>(json);
  if (type == "WordLevel") return std::make_unique<WordLevelModel>(json);
  json.Unsupported(type, kSupported);
}

}  // namespace modelgrow::hf
