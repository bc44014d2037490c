// Open-addressing hash maps for the two large tables of a tokenizer: token -> id (Llama 3 has
// 128k tokens, Qwen 151k) and BPE merge pair -> (rank, merged id) (up to 280k). Keys live in one
// contiguous arena and probing stays within one array, which makes loading and encoding several
// times faster than std::unordered_map's node per entry.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::hf {

class StringIdMap {
 public:
  void Reserve(size_t count);
  // Inserts `key`, or gives an existing key the new id (later duplicates win, as in HF's maps).
  void Set(std::string_view key, int32_t id);
  std::optional<int32_t> Find(std::string_view key) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t hash = Hash(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.length == kEmpty) return std::nullopt;
      if (slot.hash == hash && slot.length == key.size() &&
          std::memcmp(arena_.data() + slot.offset, key.data(), key.size()) == 0) {
        return slot.id;
      }
    }
  }
  size_t size() const { return size_; }
  // Calls visit(key, id) for every entry, in no particular order.
  template <typename Visit>
  void ForEach(Visit visit) const {
    for (const Slot& slot : slots_) {
      if (slot.length != kEmpty)
        visit(std::string_view(arena_).substr(slot.offset, slot.length), slot.id);
    }
  }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0;
    uint32_t length = kEmpty;
    int32_t id = 0;
  };
  static uint64_t Hash(std::string_view key);

  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// (left id, right id) -> (rank, merged id).
class MergeMap {
 public:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  void Reserve(size_t count);
  void Set(int32_t left, int32_t right, Merge merge);
  const Merge* Find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == kEmpty) return nullptr;
      if (slot.key == key) return &slot.merge;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  static uint64_t Hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace modelgrow::hf
