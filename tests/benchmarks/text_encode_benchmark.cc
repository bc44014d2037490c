// Text-encoding throughput (prompts/s) of a tiny T5 and a tiny Llama made by the t5 and llm
// plugins' Makers, through the plugins themselves, uncached and through the host's text cache;
// and the generation speed (new tokens/s) of the llm plugin's prompt rewriter on a tiny Llama of
// the language manifest's size.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/prompt_rewriter.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/text_cache.h"
#include "test_paths.h"

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

// The t5 and llm plugins of this build, with a tiny model each made by their own Makers once
// per process: exactly the path an experiment's `make = {...}` takes.
const PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFrom({std::filesystem::path(MODELGROW_PLUGIN_DIR)});
    return r;
  }();
  return *registry;
}

std::filesystem::path BenchDir() {
  // Never destroyed: the atexit handler registered while it is made runs after a static's
  // destructor would have, and must still read it.
  static const std::filesystem::path* dir = [] {
    auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("modelgrow-text-bench-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] { std::filesystem::remove_all(BenchDir()); });
    return d;
  }();
  return *dir;
}

std::shared_ptr<TextEncoder> MadeEncoder(const std::string& plugin, int64_t max_length) {
  const std::filesystem::path dir = BenchDir();
  Options encoder = Options::ParseString(fmt::format("max_length = {}", max_length), plugin);
  PluginContext make;
  make.options = Options::ParseString("d_model = 64\nlayers = 2", plugin + " make");
  std::filesystem::path folder = dir / plugin;
  if (!std::filesystem::exists(folder)) {
    std::ostringstream log;
    Registry().MakeTextModelMaker(plugin, make, encoder)->Make({Captions(400), {}}, folder, log);
  }
  PluginContext context;
  context.options = encoder.Subset();
  context.options.Set("path", nlohmann::json(folder.string()).dump());
  std::shared_ptr<TextEncoder> e = Registry().MakeTextEncoder(plugin, context);
  e->Load();
  return e;
}

void Encode(benchmark::State& state, bool t5, bool cached) {
  std::shared_ptr<TextEncoder> encoder = t5 ? MadeEncoder("t5", 120) : MadeEncoder("llm", 160);
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

// New tokens per second of KV-cached greedy generation (`modelgrow rewrite`) with a tiny Llama of
// the language manifest's rewriter size (d_model 64, 2 layers, vocabulary <= 384), untrained so
// that it runs to the token budget (the budget is the benchmark's argument).
void BM_TinyLlamaRewrite(benchmark::State& state) {
  const std::filesystem::path folder = BenchDir() / "rewriter";
  if (!std::filesystem::exists(folder)) {
    PluginContext make;
    make.options =
        Options::ParseString("d_model = 64\nlayers = 2\nheads = 4\nvocab_size = 384", "make");
    std::ostringstream log;
    Registry()
        .MakeTextModelMaker("llm", make, Options::Empty())
        ->Make({Captions(400), {}}, folder, log);
  }
  PluginContext context;
  context.options = Options::ParseString(
      fmt::format("path = \"{}\"\nmax_new_tokens = {}", folder.string(), state.range(0)),
      "rewrite");
  std::shared_ptr<PromptRewriter> rewriter = Registry().MakePromptRewriter("llm", context);
  rewriter->Load();
  int64_t tokens = 0;
  for (auto _ : state) {
    RewriteResult r = rewriter->Rewrite("a red cube moves left");
    tokens += r.new_tokens;
    benchmark::DoNotOptimize(r.text.data());
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_TinyT5)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyT5Cached)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyLlama)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyLlamaCached)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TinyLlamaRewrite)->Arg(128)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
