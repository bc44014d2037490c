// Text-encoding throughput (prompts/s) of a tiny T5 and a tiny Llama made by make-tiny, through
// the plugins' core models, uncached and through the host's text cache.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/llama_decoder.h"
#include "modelgrow/text/t5_encoder.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/text/tiny_models.h"
#include "modelgrow/text/tokenizer.h"

namespace modelgrow {
namespace {

std::vector<std::string> Captions(int count) {
  const char* colors[] = {"red", "green", "blue", "yellow", "white"};
  const char* shapes[] = {"cube", "sphere", "cone", "cylinder"};
  const char* motions[] = {"moves left", "rolls forward", "spins slowly", "falls"};
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(std::string("a ") + colors[i % 5] + " " + shapes[(i / 5) % 4] + " " +
                  motions[(i / 20) % 4] + " on a grey floor, take " + std::to_string(i));
  }
  return out;
}

// Makes the two tiny folders once per process.
const std::filesystem::path& Folders() {
  static std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("modelgrow-text-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    {
      std::ofstream corpus(d / "corpus.txt");
      for (const std::string& c : Captions(400)) corpus << c << "\n";
    }
    for (const char* type : {"t5", "llama"}) {
      TinyEncoderOptions o;
      o.type = type;
      o.corpus = d / "corpus.txt";
      o.out = d / type;
      o.d_model = 64;
      o.layers = 2;
      MakeTinyEncoder(o);
    }
    std::atexit([] { std::filesystem::remove_all(dir); });
    return d;
  }();
  return dir;
}

// A TextEncoder over the core models, as the plugins build it (plugins cannot be linked here).
class TinyEncoder : public TextEncoder {
 public:
  explicit TinyEncoder(bool t5) : t5_(t5) {
    std::filesystem::path folder = Folders() / (t5 ? "t5" : "llama");
    if (t5) {
      t5_model_ = LoadT5Encoder(folder);
      tokenizer_ = SentencePieceTokenizer::Load(folder / "spiece.model");
    } else {
      llama_ = LoadLlamaDecoder(folder);
      tokenizer_ = SentencePieceTokenizer::Load(folder / "tokenizer.model");
    }
  }
  int64_t dim() const override { return 64; }
  int64_t max_length() const override { return t5_ ? 120 : 160; }
  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    torch::InferenceMode inference;
    TextEncoding out;
    if (t5_) {
      TokenizedBatch b = TokenizeBatch(tokenizer_, prompts, {.max_length = 120});
      out.embedding = t5_model_->forward(b.ids, b.mask);
      out.mask = b.mask;
    } else {
      std::vector<std::string> texts;
      for (const auto& p : prompts) texts.push_back(ApplyTemplate(kDefaultLlmTemplate, p));
      TokenizedBatch b =
          TokenizeBatch(tokenizer_, texts, {.max_length = 160, .add_bos = true, .add_eos = false});
      out.embedding = llama_->HiddenState(b.ids, b.mask, -1);
      out.mask = b.mask;
    }
    return out;
  }
  std::string CacheKey() const override { return t5_ ? "bench-t5" : "bench-llama"; }

 private:
  bool t5_;
  T5Encoder t5_model_{nullptr};
  LlamaDecoder llama_{nullptr};
  SentencePieceTokenizer tokenizer_;
};

void Encode(benchmark::State& state, bool t5, bool cached) {
  auto encoder = std::make_shared<TinyEncoder>(t5);
  TextEncoderCache cache(encoder);
  std::vector<std::string> batch = Captions(static_cast<int>(state.range(0)));
  if (cached) cache.Encode(batch);  // a training run's second epoch: every caption seen
  for (auto _ : state) {
    TextEncoding e = cached ? cache.Encode(batch) : encoder->Encode(batch);
    benchmark::DoNotOptimize(e.embedding.data_ptr());
  }
  state.counters["prompts/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}

void BM_TinyT5(benchmark::State& s) { Encode(s, true, false); }
void BM_TinyT5Cached(benchmark::State& s) { Encode(s, true, true); }
void BM_TinyLlama(benchmark::State& s) { Encode(s, false, false); }
void BM_TinyLlamaCached(benchmark::State& s) { Encode(s, false, true); }

BENCHMARK(BM_TinyT5)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyT5Cached)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyLlama)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyLlamaCached)->Arg(16)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
