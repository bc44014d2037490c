// The one fake text encoder of the tests: each word maps to a fixed pseudo-random vector (seeded
// by its hash), padded to max_length with a mask. Deterministic, instant, and it counts calls.
// tests/fakes/plugins.cc exports it as the `test_words` plugin for tests that go through the CLI,
// with AppendingRewriter as its prompt rewriter.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "fakes/appending_rewriter.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow::testing {

class HashedWords : public TextEncoder {
 public:
  using Rewriter = AppendingRewriter;

  HashedWords(int64_t dim = 16, int64_t max_length = 6, std::string key = "")
      : dim_(dim), max_length_(max_length), key_(std::move(key)) {}
  // As a plugin: options dim, max_length, path (accepted, never read) and `encode` (false: any
  // Encode() call fails the run -- for tests that prove a run never encodes; not part of the key).
  explicit HashedWords(const PluginContext& c)
      : HashedWords(c.options.Int("dim", 16, {.min = 1}),
                    c.options.Int("max_length", 8, {.min = 1})) {
    path_ = c.options.String("path", "");
    encode_ = c.options.Bool("encode", true);
  }

  void Load() override { ++loads; }
  int64_t dim() const override { return dim_; }
  int64_t max_length() const override { return max_length_; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    if (!encode_) {
      throw RunError(
          fmt::format("test_words: Encode() called for {} prompt(s) ('{}') although "
                      "encode = false",
                      prompts.size(), prompts.empty() ? "" : prompts[0]));
    }
    ++calls;
    encoded.insert(encoded.end(), prompts.begin(), prompts.end());
    const int64_t b = static_cast<int64_t>(prompts.size());
    TextEncoding out{at::zeros({b, max_length_, dim_}), at::zeros({b, max_length_}, at::kBool)};
    for (int64_t i = 0; i < b; ++i) {
      std::istringstream words(prompts[i]);
      std::string w;
      for (int64_t l = 0; l < max_length_ && words >> w; ++l) {
        at::Generator g = at::detail::createCPUGenerator(std::hash<std::string>{}(w));
        out.embedding[i][l] = at::randn({dim_}, g, at::TensorOptions());
        out.mask[i][l] = true;
      }
    }
    return out;
  }

  // `key` when given (tests name cache folders by it), otherwise one from the settings.
  std::string CacheKey() const override {
    return key_.empty() ? fmt::format("hashed-words-{}-{}", dim_, max_length_) : key_;
  }

  int64_t calls = 0;  // Encode() calls
  int64_t loads = 0;
  std::vector<std::string> encoded;  // every prompt encoded, in order

 private:
  int64_t dim_, max_length_;
  std::string key_;
  std::string path_;  // as a plugin: accepted (tests point encoders at folders), never read
  bool encode_ = true;
};

}  // namespace modelgrow::testing
