#include "common/flat_maps.h"

#include <functional>

namespace modelgrow::hf {

namespace {

// Capacity for `count` entries at a load factor of at most one half.
size_t CapacityFor(size_t count) {
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  return capacity;
}

}  // namespace

uint64_t StringIdMap::Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }

void StringIdMap::Reserve(size_t count) {
  if (CapacityFor(count) <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(CapacityFor(count), Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.length == kEmpty) continue;
    size_t i = slot.hash & mask_;
    while (slots_[i].length != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

void StringIdMap::Set(std::string_view key, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) Reserve(size_ + 1);
  const uint64_t hash = Hash(key);
  size_t i = hash & mask_;
  while (slots_[i].length != kEmpty) {
    Slot& slot = slots_[i];
    if (slot.hash == hash && slot.length == key.size() &&
        std::memcmp(arena_.data() + slot.offset, key.data(), key.size()) == 0) {
      slot.id = id;
      return;
    }
    i = (i + 1) & mask_;
  }
  slots_[i] =
      Slot{hash, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
  arena_.append(key);
  ++size_;
}

void MergeMap::Reserve(size_t count) {
  if (CapacityFor(count) <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(CapacityFor(count), Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.key == kEmpty) continue;
    size_t i = Hash(slot.key) & mask_;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

void MergeMap::Set(int32_t left, int32_t right, Merge merge) {
  if ((size_ + 1) * 2 > slots_.size()) Reserve(size_ + 1);
  const uint64_t key = Key(left, right);
  size_t i = Hash(key) & mask_;
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) {
      slots_[i].merge = merge;
      return;
    }
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{key, merge};
  ++size_;
}

}  // namespace modelgrow::hf
