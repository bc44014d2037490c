#include "modelgrow/data/export.h"

#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/data/fit_frames.h"
#include "modelgrow/data/video_shard_writer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr char kProgressFile[] = "export.progress.json";

bool IsExportFile(const fs::path& p) {
  std::string name = p.filename().string();
  return name == "export.json" || name == kProgressFile ||
         (name.rfind("shard-", 0) == 0 && p.extension() == ".h5");
}

// A temporary file of a killed export: a half shard ("shard-00003.h5.tmp-<pid>") or a record
// that was never renamed into place ("export.progress.json.tmp-<pid>-<n>").
bool IsExportTemp(const fs::path& p) {
  const std::string name = p.filename().string();
  const size_t at = name.find(".tmp-");
  return at != std::string::npos && IsExportFile(p.parent_path() / name.substr(0, at));
}

// Everything that decides the shards' content: a resumed export must be the same export.
std::string ExportKey(const DataPipeline& pipeline, int64_t samples_per_shard,
                      const ExportOptions& options, int64_t end) {
  ContentHash key("export/1");
  key.Add("source", options.source.dump())
      .Add("pipeline", pipeline.CacheKey())
      .Add("begin", options.begin)
      .Add("end", end)
      .Add("per_shard", samples_per_shard)
      .Add("compression", options.compression);
  for (const ExportTextEncoder& e : options.text_encoders)
    key.Add("text." + e.name, e.caption + "\n" + e.encoder->CacheKey());
  if (options.vae) {
    key.Add("vae", options.vae->CacheKey())
        .Add("fit", options.fit)
        .Add("posterior", options.vae_options.sample
                              ? "sample:" + std::to_string(options.vae_options.seed)
                              : "mean");
  }
  return key.Hex();
}

// Through the VAE: the video becomes latents; height and width are the encoded frames' size.
void EncodeVideo(const ExportOptions& options, Sample& sample) {
  VideoAutoencoder& vae = *options.vae;
  if (sample.video.dim() != 4 || sample.video.size(0) != 3)
    throw InputError(fmt::format("sample {}: a VAE encodes RGB pixels [3, T, H, W], got {}-D",
                                 sample.index, sample.video.dim()));
  at::Tensor fitted =
      FitFrames(sample.video, vae.spatial_factor(), ParseFitMode(options.fit, "export fit"));
  VaeEncodeOptions encode = options.vae_options;
  // Each sample's own noise: the same latents whatever was exported before it.
  encode.seed = DeriveSeed(options.vae_options.seed, {static_cast<uint64_t>(sample.index)});
  at::Tensor z = vae.Encode(fitted.unsqueeze(0), encode);
  sample.video = z[0].contiguous();
  sample.height = fitted.size(2);
  sample.width = fitted.size(3);
}

// One fetched sample: the sample, or that it was skipped, or the error that stops the export.
struct Fetched {
  std::optional<Sample> sample;
  bool skipped = false;
  std::exception_ptr error;
};

// Reads pipeline[first, first + count) on `workers` threads (interleaved), in index order.
std::vector<Fetched> FetchChunk(DataPipeline& pipeline, int64_t first, int64_t count, int workers) {
  std::vector<Fetched> out(count);
  auto work = [&](int64_t offset, int64_t stride) {
    for (int64_t k = offset; k < count; k += stride) {
      try {
        out[k].sample = pipeline.Get(first + k);
        out[k].sample->index = first + k;
      } catch (const SkipSample&) {
        out[k].skipped = true;
      } catch (...) {
        out[k].error = std::current_exception();
      }
    }
  };
  if (workers <= 1 || count <= 1) {
    work(0, 1);
    return out;
  }
  std::vector<std::thread> threads;
  int stride = static_cast<int>(std::min<int64_t>(workers, count));
  for (int t = 0; t < stride; ++t) threads.emplace_back(work, t, stride);
  for (std::thread& t : threads) t.join();
  return out;
}

void Encode(const std::vector<ExportTextEncoder>& encoders, std::vector<Sample*>& samples) {
  if (samples.empty()) return;
  for (const ExportTextEncoder& e : encoders) {
    std::vector<std::string> prompts;
    for (Sample* s : samples) {
      auto it = s->captions.find(e.caption);
      if (it == s->captions.end())
        throw InputError(fmt::format("sample {} has no \"{}\" caption for text encoder '{}'",
                                     s->index, e.caption, e.name));
      prompts.push_back(it->second);
    }
    TextEncoding out = e.encoder->Encode(prompts);
    for (size_t k = 0; k < samples.size(); ++k) {
      TextEncoding one;
      one.embedding = out.embedding.narrow(0, static_cast<int64_t>(k), 1);
      if (out.mask.defined()) one.mask = out.mask.narrow(0, static_cast<int64_t>(k), 1);
      samples[k]->text_embeddings[e.name] = std::move(one);
    }
  }
}

}  // namespace

ExportResult ExportDataset(DataPipeline& pipeline, const fs::path& out_dir,
                           int64_t samples_per_shard, const ExportOptions& options) {
  if (options.encode_batch < 1)
    throw InputError(
        fmt::format("export: encode_batch must be >= 1, got {}", options.encode_batch));
  if (samples_per_shard < 1)
    throw InputError(fmt::format("samples per shard must be >= 1, got {}", samples_per_shard));
  int64_t size = pipeline.size();
  if (options.begin < 0 || options.begin > size)
    throw InputError(fmt::format("export: first index {} is outside the pipeline's {} samples",
                                 options.begin, size));
  int64_t end = options.limit < 0 ? size : std::min(size, options.begin + options.limit);
  for (const ExportTextEncoder& e : options.text_encoders) {
    if (!e.encoder) throw InputError(fmt::format("export: text encoder '{}' is missing", e.name));
    if (e.name.empty() || e.name.find('/') != std::string::npos)
      throw InputError(
          fmt::format("export: text embedding name '{}' must be non-empty without '/'", e.name));
  }

  if (options.overwrite && options.resume)
    throw InputError("export: --overwrite and --resume exclude each other");
  if (options.vae) ParseFitMode(options.fit, "export fit");
  const std::string export_key = ExportKey(pipeline, samples_per_shard, options, end);

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw InputError(
        fmt::format("cannot create output folder {}: {}", out_dir.string(), ec.message()));
  std::vector<fs::path> old;
  for (const auto& f : fs::directory_iterator(out_dir)) {
    if (IsExportFile(f.path())) old.push_back(f.path());
    // A killed writer's half shard or record never counts.
    if (IsExportTemp(f.path())) fs::remove(f.path(), ec);
  }
  // What a killed export finished: its shards (kept) and where it stopped.
  json resumed;
  if (options.resume && fs::exists(out_dir / kProgressFile)) {
    resumed = json::parse(ReadFile(out_dir / kProgressFile), nullptr, false);
    if (!resumed.is_object() || resumed.value("key", "") != export_key)
      throw InputError(fmt::format(
          "{}: the unfinished export there was made with other options, data or models ({}); "
          "resume it with the same ones, or start again with --overwrite",
          out_dir.string(), kProgressFile));
    std::set<std::string> kept;
    for (const json& shard : resumed["shards"]) kept.insert(shard["file"].get<std::string>());
    // A shard renamed into place after the last progress record is made again, identically.
    for (const fs::path& p : old) {
      std::string name = p.filename().string();
      if (name != kProgressFile && !kept.count(name)) fs::remove(p, ec);
    }
  } else if (options.resume && fs::exists(out_dir / "export.json")) {
    throw InputError(
        fmt::format("{} holds a finished export; nothing to resume (start again with --overwrite)",
                    out_dir.string()));
  } else if (!old.empty()) {
    if (!options.overwrite && !options.resume)
      throw InputError(
          fmt::format("{} already holds an export ({} and {} more files); choose another "
                      "folder, overwrite it (--overwrite) or continue a killed one (--resume)",
                      out_dir.string(), old.front().filename().string(), old.size() - 1));
    // export.json goes first: a folder without it is visibly an unfinished export.
    fs::remove(out_dir / "export.json", ec);
    for (const fs::path& p : old) fs::remove(p, ec);
  }

  VideoShardWriterOptions writer_options;
  writer_options.compression = options.compression;
  writer_options.latent = pipeline.latent() || options.vae != nullptr;
  writer_options.source = pipeline.CacheKey();
  // Every shard stores the schema the pipeline's targets index into, and the targets with it.
  writer_options.label_schema = pipeline.label_schema();
  for (const ExportTextEncoder& e : options.text_encoders)
    writer_options.text_attributes[e.name] = {{"caption", e.caption},
                                              {"encoder", e.encoder->CacheKey()}};

  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  ExportResult result;
  ExportProgress progress;
  progress.total = end - options.begin;
  double last_report = 0;
  json shard_list = json::array();
  std::unique_ptr<VideoShardWriter> writer;
  auto shard_path = [&](size_t k) { return out_dir / fmt::format("shard-{:05d}.h5", k); };
  std::map<std::string, int64_t> shapes;  // samples per written shape: the buckets
  int64_t first_index = options.begin;
  if (resumed.is_object()) {
    first_index = resumed["next_index"].get<int64_t>();
    result.resumed_at = first_index;
    for (const json& shard : resumed["shards"]) {
      shard_list.push_back(shard);
      result.shards.push_back(out_dir / shard["file"].get<std::string>());
    }
    result.written = resumed["written"].get<int64_t>();
    result.skipped = resumed["skipped"].get<int64_t>();
    result.skipped_indices = resumed["skipped_indices"].get<std::vector<int64_t>>();
    shapes = resumed["shapes"].get<std::map<std::string, int64_t>>();
    progress.done = first_index - options.begin;
    progress.resumed = progress.done;
    progress.written = result.written;
    progress.skipped = result.skipped;
    progress.shards = static_cast<int64_t>(result.shards.size());
  }
  // Where a killed export continues. It exists from before the first shard until export.json
  // replaces it, so a folder of shards without export.json is never taken for a whole dataset.
  auto record_progress = [&](int64_t next_index) {
    WriteFileAtomic(out_dir / kProgressFile, json{{"key", export_key},
                                                  {"next_index", next_index},
                                                  {"shards", shard_list},
                                                  {"written", result.written},
                                                  {"skipped", result.skipped},
                                                  {"skipped_indices", result.skipped_indices},
                                                  {"shapes", shapes}}
                                                     .dump(1) +
                                                 "\n");
  };
  if (!resumed.is_object()) record_progress(options.begin);
  auto commit = [&](int64_t next_index) {
    if (!writer || writer->size() == 0) return;
    writer->Commit();
    shard_list.push_back({{"file", shard_path(result.shards.size()).filename().string()},
                          {"samples", writer->size()}});
    result.shards.push_back(shard_path(result.shards.size()));
    writer.reset();
    // Written after the shard, so a shard the record does not list is one to make again.
    record_progress(next_index);
    progress.shards = static_cast<int64_t>(result.shards.size());
    progress.seconds = elapsed();
    last_report = progress.seconds;
    if (options.progress) options.progress(progress);
  };

  const int workers = std::max(1, options.workers);
  const int64_t chunk = std::max<int64_t>(options.encode_batch, 4 * workers);
  auto fetch = [&](int64_t first) {
    return std::async(std::launch::async, FetchChunk, std::ref(pipeline), first,
                      std::min(chunk, end - first), workers);
  };
  // The next chunk is read while this one is encoded and written.
  std::future<std::vector<Fetched>> next;
  if (first_index < end) next = fetch(first_index);
  for (int64_t first = first_index; first < end; first += chunk) {
    std::vector<Fetched> fetched = next.get();
    if (first + chunk < end) next = fetch(first + chunk);
    std::vector<Sample*> batch;
    for (Fetched& f : fetched) {
      if (f.error) std::rethrow_exception(f.error);
      if (!f.skipped) batch.push_back(&*f.sample);
    }
    for (size_t k = 0; k < batch.size(); k += options.encode_batch) {
      std::vector<Sample*> part(batch.begin() + k,
                                batch.begin() + std::min(batch.size(), k + options.encode_batch));
      Encode(options.text_encoders, part);
    }
    if (options.vae) {
      for (Sample* sample : batch) EncodeVideo(options, *sample);
    }
    for (size_t k = 0; k < fetched.size(); ++k) {
      progress.done += 1;
      if (fetched[k].skipped) {
        result.skipped += 1;
        result.skipped_indices.push_back(first + static_cast<int64_t>(k));
        progress.skipped = result.skipped;
        continue;
      }
      if (!writer)
        writer =
            std::make_unique<VideoShardWriter>(shard_path(result.shards.size()), writer_options);
      writer->Add(*fetched[k].sample);
      shapes[fmt::format("[{}]", fmt::join(fetched[k].sample->video.sizes(), ", "))] += 1;
      fetched[k].sample.reset();  // written: its memory can go
      result.written += 1;
      progress.written = result.written;
      if (writer->size() == samples_per_shard) commit(first + static_cast<int64_t>(k) + 1);
    }
    progress.seconds = elapsed();
    if (options.progress && progress.seconds - last_report >= 2.0) {
      last_report = progress.seconds;
      options.progress(progress);
    }
  }
  commit(end);
  result.seconds = elapsed();
  result.pipeline_summary = pipeline.Summary();

  json manifest = {{"format", kVideoShardFormat},
                   {"format_version", kVideoShardVersion},
                   {"samples", result.written},
                   {"skipped", result.skipped},
                   {"skipped_indices", result.skipped_indices},
                   {"range", {options.begin, end}},
                   {"samples_per_shard", samples_per_shard},
                   {"shards", shard_list},
                   {"latent", writer_options.latent},
                   {"shapes", shapes},
                   {"source", options.source},
                   {"pipeline_cache_key", pipeline.CacheKey()},
                   {"pipeline_summary", result.pipeline_summary},
                   {"created", UtcTimestamp()},
                   {"seconds", result.seconds},
                   {"provenance", BuildProvenance()}};
  json text = json::object();
  for (const ExportTextEncoder& e : options.text_encoders)
    text[e.name] = {{"caption", e.caption}, {"encoder", e.encoder->CacheKey()}};
  manifest["text_embeddings"] = text;
  if (writer_options.label_schema) manifest["label_schema"] = writer_options.label_schema->ToJson();
  if (options.vae) {
    manifest["vae"] = options.vae_record;
    manifest["vae"]["cache_key"] = options.vae->CacheKey();
    manifest["vae"]["latent_channels"] = options.vae->latent_channels();
    manifest["vae"]["fit"] = options.fit;
    manifest["vae"]["posterior"] = options.vae_options.sample
                                       ? json{{"sample", true}, {"seed", options.vae_options.seed}}
                                       : json{{"sample", false}};
  }
  if (result.resumed_at >= 0) manifest["resumed_at"] = result.resumed_at;
  WriteFileAtomic(out_dir / "export.json", manifest.dump(2) + "\n");
  fs::remove(out_dir / kProgressFile, ec);
  return result;
}

}  // namespace modelgrow
