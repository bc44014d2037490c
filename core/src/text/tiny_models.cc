#include "modelgrow/text/tiny_models.h"

#include <algorithm>
#include <fstream>
#include <map>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "modelgrow/base/errors.h"
#include "modelgrow/base/options.h"
#include "modelgrow/io/atomic_file.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/llama_decoder.h"
#include "modelgrow/text/prompt_hash.h"
#include "modelgrow/text/t5_encoder.h"
#include "modelgrow/text/tokenizer.h"
#include "sentencepiece_library.h"

namespace modelgrow {

namespace {

std::string Join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

void FillNormal(at::Tensor& param, double std, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  param.copy_(torch::randn(param.sizes(), gen, torch::kFloat) * std);
}

// Hugging Face's T5PreTrainedModel._init_weights with initializer_factor 1.
void InitT5(T5EncoderImpl& model, at::Generator& gen) {
  const T5Config& c = model.config();
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& p = item.value();
    auto ends = [&](const char* suffix) {
      std::string s(suffix);
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    double std = 1.0;
    if (ends("layer_norm.weight")) {
      torch::NoGradGuard no_grad;
      p.fill_(1.0);
      continue;
    }
    if (name == "shared.weight") {
      std = 1.0;
    } else if (ends("SelfAttention.q.weight")) {
      std = 1.0 / std::sqrt(static_cast<double>(c.d_model * c.d_kv));
    } else if (ends("SelfAttention.k.weight") || ends("SelfAttention.v.weight") ||
               ends("relative_attention_bias.weight") || ends("wi_0.weight") ||
               ends("wi_1.weight") || ends("wi.weight")) {
      std = 1.0 / std::sqrt(static_cast<double>(c.d_model));
    } else if (ends("SelfAttention.o.weight")) {
      std = 1.0 / std::sqrt(static_cast<double>(c.num_heads * c.d_kv));
    } else if (ends("wo.weight")) {
      std = 1.0 / std::sqrt(static_cast<double>(c.d_ff));
    }
    FillNormal(p, std, gen);
  }
}

// Hugging Face's LlamaPreTrainedModel._init_weights (initializer_range 0.02).
void InitLlama(LlamaDecoderImpl& model, at::Generator& gen) {
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& p = item.value();
    torch::NoGradGuard no_grad;
    if (name.find("layernorm") != std::string::npos || name == "model.norm.weight") {
      p.fill_(1.0);
    } else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      p.zero_();
    } else {
      FillNormal(p, 0.02, gen);
    }
  }
}

int64_t CountParameters(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

NamedTensors Named(torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters()) {
    out.emplace_back(item.key(), item.value().detach().contiguous());
  }
  return out;
}

}  // namespace

std::vector<std::string> ReadCorpus(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(fmt::format("caption corpus {} does not exist", file.string()));
  }
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    lines.push_back(line);
  }
  if (lines.empty()) {
    throw InputError(
        fmt::format("caption corpus {} holds no caption (one per line expected)", file.string()));
  }
  return lines;
}

std::string TrainSentencePiece(const std::vector<std::string>& lines,
                               const SentencePieceTrainOptions& options) {
  if (lines.empty()) throw InputError("cannot train a tokenizer on an empty corpus");
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    throw InputError(
        fmt::format("tokenizer type '{}' is not supported (unigram or bpe)", options.model_type));
  }
  std::map<std::string, std::string> args = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      // Small corpora cannot fill a fixed vocabulary; take what the corpus supports.
      {"hard_vocab_limit", "false"},
      {"character_coverage", "1.0"},
      // One thread: the trainer's result must not depend on scheduling.
      {"num_threads", "1"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},
  };
  if (options.convention == PieceConvention::kT5) {
    args.insert({{"pad_id", "0"}, {"eos_id", "1"}, {"unk_id", "2"}, {"bos_id", "-1"}});
  } else {
    args.insert({{"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "-1"}});
  }
  if (!options.user_defined_symbols.empty()) {
    args["user_defined_symbols"] = Join(options.user_defined_symbols, ",");
  }
  args["random_seed"] = std::to_string(static_cast<unsigned int>(options.seed));
  std::vector<const char*> keys, values, rows;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  for (const std::string& line : lines) rows.push_back(line.c_str());
  const SentencePieceLibrary& spm = SentencePiece();
  char* data = nullptr;
  size_t size = 0;
  char* error = nullptr;
  if (spm.train(keys.data(), values.data(), keys.size(), rows.data(), rows.size(), &data, &size,
                &error) != 0) {
    std::string message = error ? error : "unknown error";
    spm.release(error);
    throw InputError(fmt::format("SentencePiece training failed: {}", message));
  }
  std::string model(data, size);
  spm.release(data);
  return model;
}

void TinyEncoderOptions::Validate() const {
  auto fail = [](const std::string& m) { throw InputError("make-tiny: " + m); };
  if (type != "t5" && type != "llama" && type != "qwen2") {
    fail(fmt::format("type '{}' is not one of t5, llama, qwen2", type));
  }
  if (out.empty()) fail("an output folder is required");
  if (vocab_size < 16) fail(fmt::format("vocab_size {} is too small (at least 16)", vocab_size));
  if (d_model <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0) {
    fail("d_model, layers, heads and kv_heads must be positive");
  }
  if (d_model % heads != 0) {
    fail(fmt::format("heads {} does not divide d_model {}", heads, d_model));
  }
  if (type != "t5") {
    if (heads % kv_heads != 0) {
      fail(fmt::format("kv_heads {} does not divide heads {}", kv_heads, heads));
    }
    if ((d_model / heads) % 2 != 0) fail("d_model / heads must be even (rotary embeddings)");
  }
  if (d_ff < 0) fail("d_ff must be positive (or 0 for the default)");
}

TinyEncoderOptions TinyEncoderOptions::FromOptions(const Options& t) {
  TinyEncoderOptions o;
  o.type = t.Choice("type", o.type, {"t5", "llama", "qwen2"});
  o.corpus = t.RequireString("corpus");
  o.out = t.RequireString("out");
  o.vocab_size = t.Int("vocab_size", o.vocab_size, {.min = 16});
  o.tokenizer_type = t.Choice("tokenizer_type", o.tokenizer_type, {"unigram", "bpe"});
  o.d_model = t.Int("d_model", o.d_model, {.min = 2});
  o.layers = t.Int("layers", o.layers, {.min = 1});
  o.heads = t.Int("heads", o.heads, {.min = 1});
  o.kv_heads = t.Int("kv_heads", o.kv_heads, {.min = 1});
  o.d_ff = t.Int("d_ff", o.d_ff, {.min = 0});
  o.max_position_embeddings =
      t.Int("max_position_embeddings", o.max_position_embeddings, {.min = 8});
  o.seed = static_cast<uint64_t>(t.Int("seed", 0, {.min = 0}));
  return o;
}

nlohmann::json TinyEncoderResult::ToJson() const {
  return {{"folder", folder.string()}, {"vocab_size", vocab_size}, {"parameters", parameters}};
}

TinyEncoderResult MakeTinyEncoder(const TinyEncoderOptions& o) {
  o.Validate();
  std::vector<std::string> lines = ReadCorpus(o.corpus);
  std::string corpus_text;
  for (const std::string& l : lines) corpus_text += l + "\n";

  const bool t5 = o.type == "t5";
  SentencePieceTrainOptions sp;
  sp.vocab_size = o.vocab_size;
  sp.model_type = o.tokenizer_type;
  sp.convention = t5 ? PieceConvention::kT5 : PieceConvention::kLlama;
  if (!t5) sp.user_defined_symbols = LlmTemplateMarkers();
  sp.seed = o.seed;
  std::vector<std::string> training_lines = lines;
  // The default template must tokenise without unknown pieces, and into few: it is seen as
  // often as a quarter of the captions, so its words become pieces of their own.
  if (!t5) {
    training_lines.insert(training_lines.end(), std::max<size_t>(1, lines.size() / 4),
                          ApplyTemplate(kDefaultLlmTemplate, ""));
  }
  std::string spiece = TrainSentencePiece(training_lines, sp);
  SentencePieceTokenizer processor = SentencePieceTokenizer::FromSerialized(spiece, "trained");
  const int64_t vocab = processor.vocab_size();

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  nlohmann::json config, tokenizer_config;
  NamedTensors tensors;
  int64_t parameters = 0;
  std::string tokenizer_file;
  if (t5) {
    T5Config c;
    c.vocab_size = vocab;
    c.d_model = o.d_model;
    c.d_kv = o.d_model / o.heads;
    c.d_ff = o.d_ff > 0 ? o.d_ff : 2 * o.d_model;
    c.num_layers = o.layers;
    c.num_heads = o.heads;
    T5Encoder model(c);
    InitT5(*model, gen);
    tensors = Named(*model);
    parameters = CountParameters(*model);
    config = c.ToHfJson();
    tokenizer_file = "spiece.model";
    tokenizer_config = {{"tokenizer_class", "T5Tokenizer"},
                        {"extra_ids", 0},
                        {"eos_token", "</s>"},
                        {"unk_token", "<unk>"},
                        {"pad_token", "<pad>"},
                        {"model_max_length", 300},
                        {"legacy", true}};
  } else {
    LlamaConfig c;
    c.model_type = o.type;
    c.vocab_size = vocab;
    c.hidden_size = o.d_model;
    c.intermediate_size = o.d_ff > 0 ? o.d_ff : (o.d_model * 8 / 3 + 15) / 16 * 16;
    c.num_hidden_layers = o.layers;
    c.num_attention_heads = o.heads;
    c.num_key_value_heads = o.kv_heads;
    c.head_dim = o.d_model / o.heads;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = o.max_position_embeddings;
    c.qkv_bias = o.type == "qwen2";
    c.sliding_layers.assign(c.num_hidden_layers, false);
    c.bos_token_id = processor.bos_id();
    c.eos_token_id = processor.eos_id();
    LlamaDecoder model(c, /*with_lm_head=*/true);
    InitLlama(*model, gen);
    tensors = Named(*model);
    parameters = CountParameters(*model);
    config = c.ToHfJson();
    tokenizer_file = "tokenizer.model";
    // A SentencePiece tokenizer in Llama 2's layout (Qwen2's own BPE tokenizer.json cannot be
    // made from SentencePiece; transformers loads this one through LlamaTokenizer).
    tokenizer_config = {{"tokenizer_class", "LlamaTokenizer"},
                        {"add_bos_token", true},
                        {"add_eos_token", false},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"},
                        {"unk_token", "<unk>"},
                        {"legacy", true},
                        {"model_max_length", o.max_position_embeddings}};
  }
  config["modelgrow"] = {
      {"made_by", "modelgrow text make-tiny"},   {"seed", o.seed},
      {"corpus_sha256", Sha256Hex(corpus_text)}, {"corpus_lines", lines.size()},
      {"tokenizer_type", o.tokenizer_type},      {"requested_vocab_size", o.vocab_size}};

  CheckpointWriter writer(o.out);
  writer.AddTensors("model.safetensors", tensors, {{"format", "pt"}});
  writer.AddJson("config.json", config);
  writer.AddJson("tokenizer_config.json", tokenizer_config);
  WriteFileAtomic(writer.staging() / tokenizer_file, spiece);
  writer.Commit();

  TinyEncoderResult result;
  result.folder = o.out;
  result.vocab_size = vocab;
  result.parameters = parameters;
  return result;
}

}  // namespace modelgrow
