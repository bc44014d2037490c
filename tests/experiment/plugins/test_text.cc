// A cheap deterministic text encoder for experiment-engine tests: each word maps to a fixed
// pseudo-random vector (seeded by its hash); padded to max_length with a mask.
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/text_encoder.h"

namespace {

class TestWords : public modelgrow::TextEncoder {
 public:
  explicit TestWords(const modelgrow::PluginContext& c)
      : dim_(c.options.Int("dim", 16, {.min = 1})),
        max_length_(c.options.Int("max_length", 8, {.min = 1})),
        path_(c.options.String("path", "")) {}

  int64_t dim() const override { return dim_; }
  int64_t max_length() const override { return max_length_; }

  modelgrow::TextEncoding Encode(const std::vector<std::string>& prompts) override {
    ++calls;
    int64_t b = static_cast<int64_t>(prompts.size());
    modelgrow::TextEncoding out{at::zeros({b, max_length_, dim_}),
                                at::zeros({b, max_length_}, at::kBool)};
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

  std::string CacheKey() const override {
    return fmt::format("test_words/{}/{}/{}", dim_, max_length_, path_);
  }

  int64_t calls = 0;

 private:
  int64_t dim_, max_length_;
  std::string path_;
};

}  // namespace

MODELGROW_TEXT_ENCODER(TestWords, "test_words", "0.1.0", "hashed word vectors (tests only)");
