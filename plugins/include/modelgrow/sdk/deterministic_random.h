// A small random generator whose streams are fixed by the algorithm alone (not by the standard
// library's distributions, which differ between implementations), so a (seed, index) gives the
// same sample, shuffle and crop on every machine and compiler.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace modelgrow {

// One step of SplitMix64: a bijective 64-bit mix with good avalanche.
constexpr uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A seed for one purpose derived from a base seed and tags (a split, an index, an epoch):
// different tag lists give unrelated streams.
constexpr uint64_t DeriveSeed(uint64_t seed, std::initializer_list<uint64_t> tags) {
  uint64_t h = SplitMix64(seed ^ 0x6d6f64656c67726full);
  for (uint64_t t : tags) h = SplitMix64(h ^ SplitMix64(t + 0x2545f4914f6cdd1dull));
  return h;
}

// SplitMix64 as a stream generator: tiny state, passes BigCrush, fully specified.
class DeterministicRng {
 public:
  explicit DeterministicRng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform in [0, n), unbiased (Lemire's multiply-and-reject). n must be > 0.
  uint64_t Below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // One element of a non-empty vector.
  template <typename T>
  const T& Pick(const std::vector<T>& values) {
    return values[Below(values.size())];
  }
  // Fisher-Yates, fully specified.
  template <typename T>
  void Shuffle(std::vector<T>& values) {
    for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[Below(i)]);
  }

 private:
  uint64_t state_;
};

}  // namespace modelgrow
