// What a tiny model is made of: the `make = {...}` table of the t5 and llm plugins. One struct and
// one reader, so a manifest, `modelgrow text make` and the tests get the same keys, defaults and
// bounds, and `modelgrow validate` reports every problem (head sizes included) before a run.
//
//   key               default  bound / meaning
//   type              llama    llm only: llama | qwen2 (the t5 plugin always makes T5)
//   vocab_size        256      32 .. 2^20 pieces asked of the tokenizer trainer
//   tokenizer_type    bpe      bpe | unigram
//   d_model           64       >= 8, a multiple of heads
//   layers            2        >= 1
//   heads             4        >= 1; decoders: d_model / heads even (rotary embeddings)
//   kv_heads          0        llm only; 0: heads / 2 when heads is even, else heads
//   d_ff              0        0: 2 x d_model (t5), 8/3 x d_model rounded up to 16 (decoders)
//   seed              0        weights and tokenizer trainer
//   train_steps       0        llm only; > 0: next-token training on the captions
//   train_lr          3e-3     llm only; > 0
//   train_batch_size  32       llm only; >= 1
//   train_rewrite     false    llm only; also learn to rewrite short captions into detailed ones
//   train_repeat      false    llm only; also learn to repeat each caption word for word
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace modelgrow {

class Options;

// Which plugin's table is read: the t5 plugin's (no `type`, no decoder or training keys) or the
// llm plugin's.
enum class TinyModelFamily { kT5, kDecoder };

struct TinyModelOptions {
  std::string type = "t5";  // t5 | llama | qwen2
  int64_t vocab_size = 256;
  // bpe: on a corpus of a few hundred captions the unigram trainer finds only a few dozen seed
  // pieces (nearly characters), BPE learns whole words; unigram stays available.
  std::string tokenizer_type = "bpe";
  int64_t d_model = 64;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 0;
  int64_t d_ff = 0;
  int64_t max_position_embeddings = 512;  // decoders' config.json (not a key)
  uint64_t seed = 0;
  int64_t train_steps = 0;
  double train_lr = 3e-3;
  int64_t train_batch_size = 32;
  // Also train on (short -> detailed) caption pairs as chat conversations, so the model can
  // rewrite prompts (llm_trainer.h).
  bool train_rewrite = false;
  // Also train on repeating each caption (llm_trainer.h: what it keeps apart).
  bool train_repeat = false;

  // Reads `table` (problems recorded on it, all of them, with their key paths; unknown keys are
  // left for the caller's RejectUnknownKeys).
  static TinyModelOptions Read(const Options& table, TinyModelFamily family);

  bool decoder() const { return type != "t5"; }
  // Key/value heads of a decoder with kv_heads = 0 resolved.
  int64_t ResolvedKvHeads() const;
  // Every problem of these values as (key, message), under the bounds Read applies; empty when
  // they make a model.
  std::vector<std::pair<std::string, std::string>> Problems() const;
  // InputError listing Problems() unless there are none.
  void Validate() const;
};

}  // namespace modelgrow
