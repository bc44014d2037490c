#include "common/llm_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <optional>
#include <ostream>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "common/llama_decoder.h"
#include "common/model_tokenizer.h"
#include "common/tiny_models.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/atomic_folder.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

std::string Clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Mean next-token cross-entropy over the real tokens, and how many tokens that was.
std::pair<at::Tensor, int64_t> NextTokenLoss(LlamaDecoderImpl& model, const at::Tensor& ids,
                                             const at::Tensor& mask) {
  at::Tensor logits = model.Logits(ids, mask);  // [B, L, V]
  int64_t v = logits.size(-1);
  at::Tensor targets = ids.slice(1, 1).clone();
  targets.masked_fill_(mask.slice(1, 1).logical_not(), -100);
  at::Tensor loss = torch::nn::functional::cross_entropy(
      logits.slice(1, 0, -1).reshape({-1, v}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  return {loss, mask.slice(1, 1).sum().item<int64_t>()};
}

double Evaluate(LlamaDecoderImpl& model, const at::Tensor& ids, const at::Tensor& mask) {
  torch::NoGradGuard no_grad;
  double total = 0;
  int64_t tokens = 0;
  for (int64_t start = 0; start < ids.size(0); start += 64) {
    int64_t end = std::min(ids.size(0), start + 64);
    auto [loss, n] = NextTokenLoss(model, ids.slice(0, start, end), mask.slice(0, start, end));
    total += loss.item<double>() * static_cast<double>(n);
    tokens += n;
  }
  return tokens > 0 ? total / static_cast<double>(tokens) : 0.0;
}

}  // namespace

void LlmTrainOptions::Validate() const {
  if (model.empty() || out.empty()) {
    throw InputError("LLM training: the model folder and the output folder are required");
  }
  if (steps < 1 || batch_size < 1 || max_length < 3 || conversation_max_length < 3 || !(lr > 0) ||
      log_every < 1 || eval_captions < 1) {
    throw InputError(
        "LLM training: steps, batch_size, log_every, eval_captions and lr must be positive and "
        "max_length and conversation_max_length at least 3");
  }
}

nlohmann::ordered_json RewriteConversation(const std::string& short_caption,
                                           const std::string& detailed_caption) {
  nlohmann::ordered_json messages = {
      {{"role", "system"}, {"content", std::string(kRewriteSystemPrompt)}},
      {{"role", "user"}, {"content", short_caption}}};
  if (!detailed_caption.empty()) {
    messages.push_back({{"role", "assistant"}, {"content", detailed_caption}});
  }
  return messages;
}

nlohmann::ordered_json RepeatConversation(const std::string& caption) {
  return {{{"role", "system"}, {"content", std::string(kRepeatSystemPrompt)}},
          {{"role", "user"}, {"content", caption}},
          {{"role", "assistant"}, {"content", caption}}};
}

nlohmann::json LlmTrainReport::ToJson() const {
  return {{"loss_before", loss_before},
          {"loss_after", loss_after},
          {"rewrite_pairs", rewrite_pairs},
          {"rewrite_loss_before", rewrite_loss_before},
          {"rewrite_loss_after", rewrite_loss_after},
          {"repeat_conversations", repeat_conversations},
          {"repeat_loss_before", repeat_loss_before},
          {"repeat_loss_after", repeat_loss_after},
          {"steps", steps},
          {"seconds", seconds},
          {"steps_per_second", steps_per_second},
          {"tokens_seen", tokens_seen}};
}

LlmTrainReport TrainTinyLlm(const LlmTrainOptions& o, const std::vector<std::string>& captions,
                            const std::vector<CaptionPair>& pairs, std::ostream& progress,
                            bool progress_is_terminal) {
  // Training needs autograd even when the caller (e.g. a lazily made encoder) runs under no-grad.
  torch::AutoGradMode grad_mode(true);
  o.Validate();
  HfConfig hf = HfConfig::Read(o.model);
  auto tokenizer = std::make_shared<const ModelTokenizer>(ModelTokenizer::Load(
      o.model, {}, {"tokenizer.model", "spiece.model"}, SentencePieceSpecials{.bos = true}));
  LlamaDecoder model = LoadLlamaDecoder(o.model, /*with_lm_head=*/true);
  CheckTokenizerFits(*tokenizer, model->config().vocab_size, hf.file());
  const LlmPromptFormat format = LlmPromptFormat::Load(o.model, tokenizer, o.prompt);
  const int64_t eos = tokenizer->eos_id();

  std::vector<std::string> lines = CorpusLines(captions);
  std::string corpus_text;
  std::vector<std::vector<int64_t>> sequences;
  for (const std::string& line : lines) {
    corpus_text += line + "\n";
    // As the encoder reads it; a {prompt} template's text ends with EOS, a chat template's with
    // its own end-of-turn token.
    const bool with_eos = !format.chat() && eos >= 0;
    std::vector<int64_t> ids = format.PromptIds(line, o.max_length - (with_eos ? 1 : 0));
    if (with_eos) ids.push_back(eos);
    sequences.push_back(std::move(ids));
  }
  const int64_t caption_count = static_cast<int64_t>(sequences.size());
  std::optional<LlmPromptFormat> chat;
  auto add_conversation = [&](const nlohmann::ordered_json& messages) {
    if (!chat) {
      LlmPromptOptions chat_options;
      chat_options.chat_template = o.prompt.chat_template;
      chat = LlmPromptFormat::Load(o.model, tokenizer, chat_options);
      if (!chat->chat()) {
        throw InputError(fmt::format(
            "LLM training: {} has no chat template, which rewriting and repeating conversations "
            "need",
            o.model.string()));
      }
    }
    std::vector<int64_t> ids = chat->ConversationIds(messages, false);
    if (static_cast<int64_t>(ids.size()) > o.conversation_max_length) {
      ids.resize(o.conversation_max_length);
    }
    sequences.push_back(std::move(ids));
  };
  std::string pairs_text;
  for (const CaptionPair& pair : pairs) {
    pairs_text += pair.short_caption + "\t" + pair.detailed_caption + "\n";
    add_conversation(RewriteConversation(pair.short_caption, pair.detailed_caption));
  }
  const int64_t rewrite_end = static_cast<int64_t>(sequences.size());
  if (o.repeat) {
    for (const std::string& line : lines) add_conversation(RepeatConversation(line));
  }
  const int64_t longest =
      std::max_element(sequences.begin(), sequences.end(), [](const auto& a, const auto& b) {
        return a.size() < b.size();
      })->size();
  const int64_t pad = tokenizer->pad_id() >= 0 ? tokenizer->pad_id() : 0;
  TokenizedBatch all = PadBatch(sequences, longest, pad);
  at::Tensor ids = all.ids, mask = all.mask;
  const int64_t n = ids.size(0);
  const int64_t eval_n = std::min(caption_count, o.eval_captions);
  at::Tensor eval_ids = ids.slice(0, 0, eval_n), eval_mask = mask.slice(0, 0, eval_n);
  // The first eval_captions sequences of each kind: [captions | rewriting | repeating].
  auto eval_slice = [&](int64_t begin, int64_t end) {
    end = std::min(end, begin + o.eval_captions);
    return std::pair{ids.slice(0, begin, end), mask.slice(0, begin, end)};
  };
  auto [rewrite_ids, rewrite_mask] = eval_slice(caption_count, rewrite_end);
  auto [repeat_ids, repeat_mask] = eval_slice(rewrite_end, n);

  LlmTrainReport report;
  model->eval();
  report.loss_before = Evaluate(*model, eval_ids, eval_mask);
  report.rewrite_pairs = static_cast<int64_t>(pairs.size());
  report.repeat_conversations = n - rewrite_end;
  report.rewrite_loss_before = Evaluate(*model, rewrite_ids, rewrite_mask);
  report.repeat_loss_before = Evaluate(*model, repeat_ids, repeat_mask);

  model->train();
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  torch::optim::AdamW optimizer(
      model->parameters(),
      torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay).betas({0.9, 0.95}));
  const int64_t warmup = o.warmup_steps >= 0 ? o.warmup_steps : std::max<int64_t>(1, o.steps / 20);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  at::Tensor order = torch::randperm(n, gen, torch::kLong);
  int64_t cursor = 0;
  auto start = std::chrono::steady_clock::now();
  double recent_loss = report.loss_before;
  for (int64_t step = 1; step <= o.steps; ++step) {
    // Linear warmup, then cosine decay to a tenth of the peak.
    double lr = o.lr;
    if (step <= warmup) {
      lr = o.lr * static_cast<double>(step) / static_cast<double>(warmup);
    } else if (o.steps > warmup) {
      double t = static_cast<double>(step - warmup) / static_cast<double>(o.steps - warmup);
      lr = o.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * t)));
    }
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }
    if (cursor + o.batch_size > n) {
      order = torch::randperm(n, gen, torch::kLong);
      cursor = 0;
    }
    at::Tensor pick = order.slice(0, cursor, std::min(n, cursor + o.batch_size));
    cursor += o.batch_size;
    at::Tensor batch_ids = ids.index_select(0, pick), batch_mask = mask.index_select(0, pick);
    // Only the columns this batch uses.
    int64_t width = batch_mask.sum(1).max().item<int64_t>();
    batch_ids = batch_ids.slice(1, 0, width);
    batch_mask = batch_mask.slice(1, 0, width);
    optimizer.zero_grad();
    auto [loss, tokens] = NextTokenLoss(*model, batch_ids, batch_mask);
    loss.backward();
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip);
    optimizer.step();
    report.tokens_seen += tokens;
    double value = loss.item<double>();
    if (!std::isfinite(value)) {
      throw RunError(fmt::format("LLM training: the loss became {} at step {} (lr {} too high?)",
                                 value, step, o.lr));
    }
    recent_loss = step == 1 ? value : 0.9 * recent_loss + 0.1 * value;
    bool line_due = progress_is_terminal ? true : (step % o.log_every == 0 || step == o.steps);
    if (line_due) {
      double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double rate = static_cast<double>(step) / std::max(elapsed, 1e-9);
      std::string line =
          fmt::format("training: step {}/{}  loss {:.4f}  {:.1f} steps/s  ETA {}", step, o.steps,
                      recent_loss, rate, Clock(static_cast<double>(o.steps - step) / rate));
      if (progress_is_terminal) {
        progress << "\r" << line << "\x1b[K" << (step == o.steps ? "\n" : "") << std::flush;
      } else {
        progress << line << "\n" << std::flush;
      }
    }
  }
  report.steps = o.steps;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.steps_per_second = static_cast<double>(o.steps) / std::max(report.seconds, 1e-9);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  report.loss_after = Evaluate(*model, eval_ids, eval_mask);
  report.rewrite_loss_after = Evaluate(*model, rewrite_ids, rewrite_mask);
  report.repeat_loss_after = Evaluate(*model, repeat_ids, repeat_mask);

  nlohmann::json config = hf.json();
  // What was trained and how well, without timings: the same run writes the same bytes.
  nlohmann::json record = {{"loss_before", report.loss_before},
                           {"loss_after", report.loss_after},
                           {"steps", report.steps},
                           {"tokens_seen", report.tokens_seen},
                           {"corpus_sha256", Sha256Hex(corpus_text)},
                           {"corpus_lines", caption_count},
                           {"rewrite_pairs", report.rewrite_pairs},
                           {"rewrite_pairs_sha256", Sha256Hex(pairs_text)},
                           {"rewrite_loss_before", report.rewrite_loss_before},
                           {"rewrite_loss_after", report.rewrite_loss_after},
                           {"repeat_conversations", report.repeat_conversations},
                           {"repeat_loss_before", report.repeat_loss_before},
                           {"repeat_loss_after", report.repeat_loss_after},
                           {"lr", o.lr},
                           {"batch_size", o.batch_size},
                           {"max_length", o.max_length},
                           {"conversation_max_length", o.conversation_max_length},
                           {"seed", o.seed},
                           {"prompt_format", format.source()},
                           {"prompt_fingerprint", format.fingerprint()}};
  if (!config.contains("modelgrow") || !config["modelgrow"].is_object()) {
    config["modelgrow"] = nlohmann::json::object();
  }
  config["modelgrow"]["training"] = record;

  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kFloat).contiguous());
  }
  AtomicFolderWriter out(o.out);
  out.AddTensors("model.safetensors", tensors, {{"format", "pt"}});
  out.AddJson("config.json", config);
  for (const auto& entry : std::filesystem::directory_iterator(o.model)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "config.json" || name.rfind("model", 0) == 0) continue;
    out.AddFile(name, ReadFile(entry.path()));
  }
  out.Commit();
  return report;
}

}  // namespace modelgrow
