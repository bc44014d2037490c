#include "common/tiny_model_options.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

namespace {

// The bounds, shared by the reader and by Problems().
constexpr IntRange kVocabRange{.min = 32, .max = 1 << 20};
constexpr IntRange kDModelRange{.min = 8};
constexpr IntRange kPositive{.min = 1};
constexpr IntRange kNonNegative{.min = 0};
constexpr DoubleRange kLearningRate{.min = 0, .min_exclusive = true};

bool Outside(int64_t value, IntRange range) { return value < range.min || value > range.max; }

std::string RangeText(IntRange range) {
  if (range.max == IntRange{}.max) return fmt::format("at least {}", range.min);
  return fmt::format("between {} and {}", range.min, range.max);
}

}  // namespace

TinyModelOptions TinyModelOptions::Read(const Options& t, TinyModelFamily family) {
  TinyModelOptions o;
  const bool decoder = family == TinyModelFamily::kDecoder;
  o.type = decoder ? t.Choice("type", "llama", {"llama", "qwen2"}) : "t5";
  o.vocab_size = t.Int("vocab_size", o.vocab_size, kVocabRange);
  o.tokenizer_type = t.Choice("tokenizer_type", o.tokenizer_type, {"bpe", "unigram"});
  o.d_model = t.Int("d_model", o.d_model, kDModelRange);
  o.layers = t.Int("layers", o.layers, kPositive);
  o.heads = t.Int("heads", o.heads, kPositive);
  o.d_ff = t.Int("d_ff", o.d_ff, kNonNegative);
  o.seed = static_cast<uint64_t>(t.Int("seed", 0, kNonNegative));
  if (decoder) {
    o.kv_heads = t.Int("kv_heads", o.kv_heads, kNonNegative);
    o.train_steps = t.Int("train_steps", o.train_steps, kNonNegative);
    o.train_lr = t.Double("train_lr", o.train_lr, kLearningRate);
    o.train_batch_size = t.Int("train_batch_size", o.train_batch_size, kPositive);
    o.train_rewrite = t.Bool("train_rewrite", o.train_rewrite);
    o.train_repeat = t.Bool("train_repeat", o.train_repeat);
  }
  // Values out of range were replaced by their defaults above; what is left are combinations.
  for (const auto& [key, message] : o.Problems()) t.Fail(key, message);
  return o;
}

int64_t TinyModelOptions::ResolvedKvHeads() const {
  if (kv_heads > 0) return kv_heads;
  return heads % 2 == 0 ? heads / 2 : heads;
}

std::vector<std::pair<std::string, std::string>> TinyModelOptions::Problems() const {
  std::vector<std::pair<std::string, std::string>> out;
  auto range = [&](const char* key, int64_t value, IntRange bounds) {
    if (Outside(value, bounds)) {
      out.emplace_back(key,
                       fmt::format("{} is out of range (expected {})", value, RangeText(bounds)));
    }
  };
  if (type != "t5" && type != "llama" && type != "qwen2") {
    out.emplace_back("type", fmt::format("'{}' is not one of t5, llama, qwen2", type));
  }
  if (tokenizer_type != "bpe" && tokenizer_type != "unigram") {
    out.emplace_back("tokenizer_type", fmt::format("'{}' is not bpe or unigram", tokenizer_type));
  }
  range("vocab_size", vocab_size, kVocabRange);
  range("d_model", d_model, kDModelRange);
  range("layers", layers, kPositive);
  range("heads", heads, kPositive);
  range("kv_heads", kv_heads, kNonNegative);
  range("d_ff", d_ff, kNonNegative);
  range("max_position_embeddings", max_position_embeddings, {.min = 8});
  range("train_steps", train_steps, kNonNegative);
  range("train_batch_size", train_batch_size, kPositive);
  if (!(train_lr > 0)) {
    out.emplace_back("train_lr", fmt::format("{} is out of range (expected > 0)", train_lr));
  }
  if (heads >= 1 && d_model % heads != 0) {
    out.emplace_back("heads", fmt::format("heads {} does not divide d_model {}", heads, d_model));
  } else if (heads >= 1 && decoder() && (d_model / heads) % 2 != 0) {
    out.emplace_back("heads", fmt::format("d_model / heads = {} must be even (rotary embeddings)",
                                          d_model / heads));
  }
  if (decoder() && heads >= 1 && kv_heads >= 0 && heads % ResolvedKvHeads() != 0) {
    out.emplace_back("kv_heads",
                     fmt::format("kv_heads {} does not divide heads {}", kv_heads, heads));
  }
  if (train_rewrite && train_steps == 0) {
    out.emplace_back("train_rewrite", "needs train_steps > 0: rewriting is learned by training");
  }
  if (train_repeat && train_steps == 0) {
    out.emplace_back("train_repeat", "needs train_steps > 0: repeating is learned by training");
  }
  if (!decoder() && train_steps > 0) {
    out.emplace_back("train_steps",
                     "only decoders (llama, qwen2) are trained; a tiny T5 stays random");
  }
  return out;
}

void TinyModelOptions::Validate() const {
  std::string message;
  for (const auto& [key, problem] : Problems()) {
    message += fmt::format("{}{}: {}", message.empty() ? "" : "; ", key, problem);
  }
  if (!message.empty()) throw InputError("tiny model options: " + message);
}

}  // namespace modelgrow
