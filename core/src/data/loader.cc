#include "modelgrow/data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/deterministic_random.h"

namespace modelgrow {

using json = nlohmann::json;

json LoaderPosition::ToJson() const { return {{"epoch", epoch}, {"batch", batch}}; }

LoaderPosition LoaderPosition::FromJson(const json& j) {
  auto field = [&](const char* key) -> int64_t {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer() ||
        j[key].get<int64_t>() < 0)
      throw InputError(fmt::format(
          "loader position: expected {{\"epoch\": <integer >= 0>, \"batch\": <integer >= 0>}}, "
          "got {} (key '{}')",
          j.dump(), key));
    return j[key].get<int64_t>();
  };
  LoaderPosition p;
  p.epoch = field("epoch");
  p.batch = field("batch");
  return p;
}

namespace {

using Shape = std::array<int64_t, 4>;

std::string ShapeText(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// One epoch's batches: every bucket's indices in this epoch's order, and which slice of which
// bucket each batch takes.
struct EpochPlan {
  std::vector<std::vector<int64_t>> bucket_order;
  struct Slice {
    size_t bucket;
    size_t begin;
    size_t size;
  };
  std::vector<Slice> batches;
};

// What a worker hands the consumer: a batch, or the error that stopped it.
struct BuiltBatch {
  Batch batch;
  std::exception_ptr error;
  std::vector<int64_t> skipped;  // indices that threw SkipSample (replaced by later ones)
};

}  // namespace

struct DataLoader::Impl {
  std::shared_ptr<DataPipeline> pipeline;
  LoaderOptions options;
  std::vector<uint32_t> bucket_of;  // per index; empty when there is a single bucket
  std::vector<Shape> bucket_shapes;
  std::vector<int64_t> bucket_sizes;
  int64_t batches_per_epoch = 0;

  std::mutex plan_mutex;
  std::map<int64_t, std::shared_ptr<const EpochPlan>> plans;

  // Batches are numbered globally: sequence = epoch * batches_per_epoch + batch.
  std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable ready_cv;
  int64_t next_claim = 0;
  int64_t next_yield = 0;
  std::map<int64_t, BuiltBatch> ready;
  bool stopping = false;
  std::vector<std::thread> threads;

  // Counted when a batch is yielded, so prefetched batches never count twice.
  int64_t skipped = 0;
  std::set<int64_t> skipped_indices;
  int64_t batches_yielded = 0;
  int64_t samples_yielded = 0;

  std::shared_ptr<const EpochPlan> Plan(int64_t epoch);
  BuiltBatch Build(int64_t sequence);
  Batch Assemble(std::vector<Sample>& samples);
  void StartWorkers();
  void StopWorkers();
  void WorkerLoop();
  void Account(const BuiltBatch& built);
};

std::shared_ptr<const EpochPlan> DataLoader::Impl::Plan(int64_t epoch) {
  std::lock_guard lock(plan_mutex);
  auto it = plans.find(epoch);
  if (it != plans.end()) return it->second;

  int64_t n = pipeline->size();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (options.shuffle) {
    DeterministicRng rng(DeriveSeed(options.seed, {0x7368756666ull, static_cast<uint64_t>(epoch)}));
    rng.Shuffle(order);
  }
  auto plan = std::make_shared<EpochPlan>();
  size_t buckets = bucket_sizes.size();
  plan->bucket_order.resize(buckets);
  for (size_t b = 0; b < buckets; ++b) plan->bucket_order[b].reserve(bucket_sizes[b]);
  size_t batch = static_cast<size_t>(options.batch_size);
  // A batch is emitted when its bucket fills, so batches come in the order the shuffled stream
  // completes them: buckets interleave in proportion to their sizes.
  for (int64_t index : order) {
    size_t b = bucket_of.empty() ? 0 : bucket_of[index];
    auto& members = plan->bucket_order[b];
    members.push_back(index);
    if (members.size() % batch == 0) plan->batches.push_back({b, members.size() - batch, batch});
  }
  if (!options.drop_last) {
    for (size_t b = 0; b < buckets; ++b) {
      size_t rest = plan->bucket_order[b].size() % batch;
      if (rest) plan->batches.push_back({b, plan->bucket_order[b].size() - rest, rest});
    }
  }
  // Workers run at most a few batches ahead, so only recent epochs are needed.
  while (!plans.empty() && plans.begin()->first < epoch - 1) plans.erase(plans.begin());
  plans[epoch] = plan;
  return plan;
}

Batch DataLoader::Impl::Assemble(std::vector<Sample>& samples) {
  Batch batch;
  std::vector<at::Tensor> videos;
  std::vector<float> fps;
  videos.reserve(samples.size());
  for (Sample& s : samples) {
    if (!s.video.defined() || s.video.dim() != 4)
      throw RunError(fmt::format("data pipeline sample {} has video of shape {}, not [C, T, H, W]",
                                 s.index, s.video.defined() ? ShapeText(s.video.sizes()) : "none"));
    if (s.video.sizes() != samples[0].video.sizes())
      throw InputError(fmt::format(
          "data pipeline samples {} and {} have shapes {} and {} but share a batch: the pipeline "
          "must report per-sample shapes (DataPipeline::ShapeOf) so the loader can bucket them",
          samples[0].index, s.index, ShapeText(samples[0].video.sizes()),
          ShapeText(s.video.sizes())));
    videos.push_back(s.video.to(torch::kFloat));
    fps.push_back(static_cast<float>(s.fps));
    batch.captions.push_back(std::move(s.captions));
    batch.labels.push_back(std::move(s.labels));
    batch.targets.push_back(std::move(s.targets));
    batch.indices.push_back(s.index);
  }
  batch.video = torch::stack(videos);
  batch.fps = torch::tensor(fps, torch::kFloat);
  batch.height = samples[0].height;
  batch.width = samples[0].width;
  // Precomputed text embeddings: only names every sample carries, stacked along the batch.
  for (const auto& [name, first] : samples[0].text_embeddings) {
    std::vector<at::Tensor> embeddings, masks;
    for (const Sample& s : samples) {
      auto it = s.text_embeddings.find(name);
      if (it == s.text_embeddings.end()) break;
      at::Tensor e = it->second.embedding, m = it->second.mask;
      embeddings.push_back(e.dim() == 2 ? e.unsqueeze(0) : e);
      if (m.defined()) masks.push_back(m.dim() == 1 ? m.unsqueeze(0) : m);
    }
    if (embeddings.size() != samples.size()) continue;
    for (const at::Tensor& e : embeddings) {
      if (e.sizes().slice(1) != embeddings[0].sizes().slice(1))
        throw InputError(fmt::format(
            "text embeddings '{}' of one batch have shapes {} and {}: every sample of a "
            "pipeline must carry embeddings padded to the same length",
            name, ShapeText(embeddings[0].sizes()), ShapeText(e.sizes())));
    }
    TextEncoding stacked;
    stacked.embedding = torch::cat(embeddings).to(torch::kFloat);
    if (masks.size() == samples.size()) stacked.mask = torch::cat(masks).to(torch::kBool);
    batch.text_embeddings.emplace(name, std::move(stacked));
  }
  return batch;
}

BuiltBatch DataLoader::Impl::Build(int64_t sequence) {
  BuiltBatch built;
  try {
    int64_t epoch = sequence / batches_per_epoch;
    int64_t position = sequence % batches_per_epoch;
    std::shared_ptr<const EpochPlan> plan = Plan(epoch);
    const EpochPlan::Slice& slice = plan->batches[position];
    const std::vector<int64_t>& members = plan->bucket_order[slice.bucket];
    // This rank's part of the global batch.
    const size_t part = slice.size / static_cast<size_t>(options.shards);
    const size_t begin = slice.begin + part * static_cast<size_t>(options.shard);
    std::vector<Sample> samples;
    samples.reserve(part);
    for (size_t k = begin; k < begin + part; ++k) {
      // A skipped sample is replaced by the next one of its bucket in this epoch's order: the
      // choice depends only on (seed, epoch, batch), so a resumed run makes the same one.
      bool got = false;
      for (size_t step = 0; step < members.size() && !got; ++step) {
        int64_t index = members[(k + step) % members.size()];
        try {
          samples.push_back(pipeline->Get(index));
          samples.back().index = index;
          got = true;
        } catch (const SkipSample&) {
          built.skipped.push_back(index);
        }
      }
      if (!got) {
        const Shape& shape = bucket_shapes[slice.bucket];
        throw RunError(fmt::format(
            "every one of the {} samples{} was skipped as unusable; see the pipeline's summary: {}",
            members.size(),
            bucket_shapes.size() > 1 ? fmt::format(" of shape {}", ShapeText(shape)) : "",
            pipeline->Summary().dump()));
      }
    }
    built.batch = Assemble(samples);
    built.batch.first_sample =
        sequence * options.batch_size + static_cast<int64_t>(part) * options.shard;
  } catch (...) {
    built.error = std::current_exception();
  }
  return built;
}

void DataLoader::Impl::WorkerLoop() {
  std::unique_lock lock(mutex);
  while (true) {
    int64_t ahead = std::max<int64_t>(options.prefetch_batches, options.workers);
    work_cv.wait(lock, [&] { return stopping || next_claim < next_yield + ahead; });
    if (stopping) return;
    int64_t sequence = next_claim++;
    lock.unlock();
    BuiltBatch built = Build(sequence);
    lock.lock();
    ready.emplace(sequence, std::move(built));
    ready_cv.notify_all();
  }
}

void DataLoader::Impl::StartWorkers() {
  stopping = false;
  next_claim = next_yield;
  for (int i = 0; i < options.workers; ++i) threads.emplace_back([this] { WorkerLoop(); });
}

void DataLoader::Impl::StopWorkers() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  work_cv.notify_all();
  for (std::thread& t : threads) t.join();
  threads.clear();
  ready.clear();
}

void DataLoader::Impl::Account(const BuiltBatch& built) {
  skipped += static_cast<int64_t>(built.skipped.size());
  skipped_indices.insert(built.skipped.begin(), built.skipped.end());
  if (!built.error) {
    batches_yielded += 1;
    samples_yielded += built.batch.size();
  }
}

DataLoader::DataLoader(std::shared_ptr<DataPipeline> pipeline, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!pipeline) throw InputError("data loader: no pipeline given");
  if (options.batch_size < 1)
    throw InputError(
        fmt::format("data loader: batch_size must be >= 1, got {}", options.batch_size));
  if (options.workers < 0)
    throw InputError(fmt::format("data loader: workers must be >= 0, got {}", options.workers));
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw InputError(
        fmt::format("data loader: shard {} of {} does not exist", options.shard, options.shards));
  if (options.batch_size % options.shards != 0)
    throw InputError(fmt::format(
        "batch_size {} does not divide evenly among {} ranks: choose a batch_size that is a "
        "multiple of the world size",
        options.batch_size, options.shards));
  if (options.shards > 1 && !options.drop_last)
    throw InputError("data loader: a sharded loader needs drop_last (every part the same size)");
  if (options.prefetch_batches < 1)
    throw InputError(fmt::format("data loader: prefetch_batches must be >= 1, got {}",
                                 options.prefetch_batches));
  impl_->pipeline = std::move(pipeline);
  impl_->options = options;
  int64_t n = impl_->pipeline->size();
  if (n < 0) throw RunError(fmt::format("data pipeline reports a negative size ({})", n));

  // Buckets by shape, numbered in order of first appearance in index order.
  std::optional<Shape> first = n > 0 ? impl_->pipeline->ShapeOf(0) : std::nullopt;
  if (!first) {
    impl_->bucket_shapes.push_back({0, 0, 0, 0});
    impl_->bucket_sizes.push_back(n);
  } else {
    std::map<Shape, uint32_t> ids;
    impl_->bucket_of.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      std::optional<Shape> shape = i == 0 ? first : impl_->pipeline->ShapeOf(i);
      if (!shape)
        throw RunError(
            fmt::format("data pipeline reports a shape for sample 0 but not for sample {}", i));
      auto [it, added] = ids.emplace(*shape, static_cast<uint32_t>(ids.size()));
      if (added) {
        impl_->bucket_shapes.push_back(*shape);
        impl_->bucket_sizes.push_back(0);
      }
      impl_->bucket_of[i] = it->second;
      impl_->bucket_sizes[it->second] += 1;
    }
  }
  for (int64_t size : impl_->bucket_sizes) {
    impl_->batches_per_epoch += size / options.batch_size;
    if (!options.drop_last && size % options.batch_size) impl_->batches_per_epoch += 1;
  }
}

DataLoader::~DataLoader() { impl_->StopWorkers(); }

Batch DataLoader::Next() {
  Impl& s = *impl_;
  if (s.batches_per_epoch == 0) {
    std::string buckets;
    if (s.bucket_sizes.size() > 1) {
      buckets = " (by shape:";
      for (size_t b = 0; b < s.bucket_sizes.size(); ++b)
        buckets += fmt::format(" {} x {}", s.bucket_sizes[b], ShapeText(s.bucket_shapes[b]));
      buckets += ")";
    }
    throw InputError(fmt::format(
        "data loader: the pipeline has {} samples{}, too few for one batch of {} (drop_last is on)",
        s.pipeline->size(), buckets, s.options.batch_size));
  }
  BuiltBatch built;
  if (s.options.workers == 0) {
    built = s.Build(s.next_yield);
  } else {
    std::unique_lock lock(s.mutex);
    if (s.threads.empty()) s.StartWorkers();
    s.ready_cv.wait(lock, [&] { return s.ready.count(s.next_yield) > 0; });
    auto it = s.ready.find(s.next_yield);
    if (it->second.error) {
      // Left in place: the position stays at the failing batch and asking again fails again.
      std::rethrow_exception(it->second.error);
    }
    built = std::move(it->second);
    s.ready.erase(it);
  }
  if (built.error) std::rethrow_exception(built.error);
  {
    std::lock_guard lock(s.mutex);
    s.next_yield += 1;
  }
  s.work_cv.notify_all();
  s.Account(built);
  return std::move(built.batch);
}

LoaderPosition DataLoader::position() const {
  std::lock_guard lock(impl_->mutex);
  LoaderPosition p;
  if (impl_->batches_per_epoch > 0) {
    p.epoch = impl_->next_yield / impl_->batches_per_epoch;
    p.batch = impl_->next_yield % impl_->batches_per_epoch;
  }
  return p;
}

void DataLoader::Restore(const LoaderPosition& position) {
  Impl& s = *impl_;
  if (position.epoch < 0 || position.batch < 0 ||
      (position.batch >= s.batches_per_epoch && !(position.batch == 0 && position.epoch == 0)))
    throw InputError(fmt::format(
        "data loader: cannot restore position epoch {} batch {}: an epoch has {} batches",
        position.epoch, position.batch, s.batches_per_epoch));
  s.StopWorkers();
  s.next_yield = position.epoch * s.batches_per_epoch + position.batch;
  s.next_claim = s.next_yield;
}

int64_t DataLoader::batches_per_epoch() const { return impl_->batches_per_epoch; }

const LoaderOptions& DataLoader::options() const { return impl_->options; }

json DataLoader::Stats() const {
  const Impl& s = *impl_;
  json stats = {{"batches", s.batches_yielded},
                {"samples", s.samples_yielded},
                {"skipped", s.skipped},
                {"skipped_unique", s.skipped_indices.size()},
                {"batches_per_epoch", s.batches_per_epoch},
                {"buckets", s.bucket_sizes.size()}};
  json indices = json::array();
  for (int64_t i : s.skipped_indices) {
    if (indices.size() == 100) break;
    indices.push_back(i);
  }
  stats["skipped_indices"] = indices;
  stats["pipeline"] = s.pipeline->Summary();
  return stats;
}

}  // namespace modelgrow
