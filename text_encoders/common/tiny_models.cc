#include "common/tiny_models.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "common/llama_decoder.h"
#include "common/prompt_template.h"
#include "common/sentencepiece_conversion.h"
#include "common/sentencepiece_model.h"
#include "common/sentencepiece_training.h"
#include "common/t5_encoder.h"
#include "common/tokenizer.h"
#include "modelgrow/sdk/atomic_folder.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// Meta-Llama-3-8B-Instruct's chat template (with its add_generation_prompt switch), written into
// the tiny decoders' tokenizer_config.json: the paper's LLaVA / Llama-3 style prompt.
constexpr const char* kLlama3ChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

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

std::vector<std::string> CorpusLines(const std::vector<std::string>& captions) {
  std::vector<std::string> lines;
  for (const std::string& caption : captions) {
    std::istringstream in(caption);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      lines.push_back(line);
    }
  }
  if (lines.empty()) throw InputError("the caption corpus holds no caption");
  return lines;
}

nlohmann::json TinyModelFacts::ToJson() const {
  return {{"vocab_size", vocab_size}, {"parameters", parameters}, {"captions", captions}};
}

TinyModelFacts MakeTinyModel(const TinyModelOptions& o, const std::vector<std::string>& captions,
                             const std::filesystem::path& folder) {
  o.Validate();
  std::vector<std::string> lines = CorpusLines(captions);
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
  nlohmann::json config, tokenizer_config, special_tokens_map, generation_config;
  SentencePieceConversion conversion;
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
    conversion.legacy = true;
    conversion.suffix = {"</s>"};
    tokenizer_config = {{"tokenizer_class", "T5TokenizerFast"},
                        {"extra_ids", 0},
                        {"eos_token", "</s>"},
                        {"unk_token", "<unk>"},
                        {"pad_token", "<pad>"},
                        {"model_max_length", 300},
                        {"legacy", true}};
    special_tokens_map = {{"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"}};
  } else {
    LlamaConfig c;
    c.model_type = o.type;
    c.vocab_size = vocab;
    c.hidden_size = o.d_model;
    c.intermediate_size = o.d_ff > 0 ? o.d_ff : (o.d_model * 8 / 3 + 15) / 16 * 16;
    c.num_hidden_layers = o.layers;
    c.num_attention_heads = o.heads;
    c.num_key_value_heads = o.ResolvedKvHeads();
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
    // Llama's layout (BOS added, no EOS), converted as a non-legacy tokenizer (a "▁" only at the
    // start of the text, not after every special token), with Llama 3's chat template around the
    // markers the tokenizer keeps whole. Qwen2's own byte-level BPE cannot be made from
    // SentencePiece; transformers loads this one through LlamaTokenizerFast either way.
    conversion.legacy = false;
    conversion.prefix = {"<s>"};
    tokenizer_config = {{"tokenizer_class", "LlamaTokenizerFast"},
                        {"add_bos_token", true},
                        {"add_eos_token", false},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"},
                        {"unk_token", "<unk>"},
                        {"legacy", false},
                        {"model_max_length", o.max_position_embeddings},
                        {"chat_template", kLlama3ChatTemplate}};
    special_tokens_map = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};
    // As Meta-Llama-3-8B-Instruct's: generation also ends at the end of a chat turn, which the
    // chat template closes with <|eot_id|>, not with EOS.
    generation_config = {{"bos_token_id", c.bos_token_id},
                         {"eos_token_id", {c.eos_token_id, processor.PieceToId("<|eot_id|>")}}};
  }
  config["modelgrow"] = {
      {"made_by", "modelgrow tiny-model maker"}, {"seed", o.seed},
      {"corpus_sha256", Sha256Hex(corpus_text)}, {"corpus_lines", lines.size()},
      {"tokenizer_type", o.tokenizer_type},      {"requested_vocab_size", o.vocab_size}};

  AtomicFolderWriter out(folder);
  out.AddTensors("model.safetensors", tensors, {{"format", "pt"}});
  out.AddJson("config.json", config);
  out.AddJson("tokenizer_config.json", tokenizer_config);
  out.AddJson("special_tokens_map.json", special_tokens_map);
  if (!generation_config.is_null()) out.AddJson("generation_config.json", generation_config);
  // Both tokenizer files, as Hugging Face folders ship them: tokenizer.json (what the plugins and
  // transformers' fast tokenizers read) and the SentencePiece model it was converted from.
  out.AddFile("tokenizer.json", SentencePieceToTokenizerJson(
                                    SentencePieceModel::Parse(spiece, tokenizer_file), conversion)
                                        .dump(2) +
                                    "\n");
  out.AddFile(tokenizer_file, spiece);
  out.Commit();

  TinyModelFacts facts;
  facts.vocab_size = vocab;
  facts.parameters = parameters;
  facts.captions = static_cast<int64_t>(lines.size());
  return facts;
}

}  // namespace modelgrow
