// The `video_csv` data pipeline: Open-Sora's CSV format (path, text, num_frames, height, width,
// fps, ...), videos decoded with FFmpeg's libraries. Unusable videos are skipped and counted
// (on_error = "skip") or stop the run (on_error = "error"). Constructing it reads the options
// only; Open() reads the CSV.
#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

extern "C" {
#include <libavutil/log.h>
}

#include "buckets.h"
#include "csv_table.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/plugin.h"
#include "video_clip_decoder.h"

namespace modelgrow::video_csv {

namespace {

namespace fs = std::filesystem;

// A non-negative number from a CSV field ("" or unparsable: nullopt). pandas writes integer
// columns with NaNs as floats ("256.0").
std::optional<double> Number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= 0)) return std::nullopt;
  return value;
}

struct Row {
  fs::path path;
  std::string text;
  std::string detailed;
  int64_t num_frames = 0;  // as the CSV says; 0: unknown
  int64_t height = 0, width = 0;
  double fps = 0;
  std::optional<BucketChoice> bucket;  // with a bucket table: the clip's frames and size
};

class VideoCsvPipeline : public DataPipeline {
 public:
  // The conformance suite opens each; "${data}" is this plugin's example data (two tiny clips,
  // scripts/goldens/make_video_csv_examples.sh); `test_` keys steer the suite.
  static constexpr const char* kExamples = R"toml(
[[example]]  # 4 frames from the middle of each clip, resized and centre-cropped to 16x16
csv = "${data}/clips.csv"
num_frames = 4
height = 16
width = 16
clip_start = "center"

[[example]]  # every clip at its own size (from the CSV), with a second caption column
csv = "${data}/clips.csv"
num_frames = 4
frame_interval = 2
height = 0
width = 0
clip_start = "random"
seed = 3
detailed_column = "long_text"

[[example]]  # Open-Sora-style buckets: each clip decoded at its bucket's frame count and size
csv = "${data}/clips.csv"
clip_start = "start"
buckets = { tiny = { "1" = 1.0, "4" = 1.0, "8" = 1.0 } }
resolutions = { tiny = { area = 512, "0.50" = [16, 32], "2.00" = [32, 16] } }

[[example]]
num_frames = 4
test_options_error = "missing required key"
)toml";

  // Reads and checks the options; opens nothing.
  explicit VideoCsvPipeline(const PluginContext& context) {
    const Options& o = context.options;
    csv_ = o.RequireString("csv");
    root_option_ = o.String("root", "");
    request_.num_frames = o.Int("num_frames", 16, {.min = 1, .max = 100000});
    request_.frame_interval = o.Int("frame_interval", 1, {.min = 1, .max = 1000});
    request_.height = o.Int("height", 256, {.min = 0, .max = 16384});
    request_.width = o.Int("width", 256, {.min = 0, .max = 16384});
    request_.clip_start = o.Choice("clip_start", "random", {"start", "center", "random"});
    request_.decoder_threads = static_cast<int>(o.Int("decoder_threads", 1, {.min = 1, .max = 64}));
    seed_ = static_cast<uint64_t>(o.Int("seed", 0, {.min = 0}));
    on_error_ = o.Choice("on_error", "skip", {"skip", "error"});
    detailed_column_ = o.String("detailed_column", "");
    native_size_ = request_.height == 0 || request_.width == 0;
    buckets_ = BucketTable::FromOptions(o);
    if (!buckets_.empty()) {
      for (const char* key : {"num_frames", "height", "width"}) {
        if (o.Has(key))
          o.Fail(key, "the bucket table decides every clip's frame count and size; leave it out");
      }
      native_size_ = false;
    }
    if (native_size_ && (request_.height != 0 || request_.width != 0))
      o.Fail(request_.height == 0 ? "width" : "height",
             "height and width are both 0 (each video's own size, from the CSV) or both set");
  }

  // Reads the CSV: InputError naming the file (and line) for a missing file, a missing column or
  // a malformed row.
  void Open() override {
    // FFmpeg's own log would interleave with ours from several threads; failures are reported
    // through the skip count and messages instead.
    av_log_set_level(AV_LOG_QUIET);

    fs::path csv_path(csv_);
    root_ = root_option_.empty() ? csv_path.parent_path() : fs::path(root_option_);
    CsvTable table = CsvTable::Read(csv_path);
    csv_fingerprint_ = FileFingerprint(csv_path);
    for (const char* column : {"path", "text"}) {
      if (!table.HasColumn(column))
        throw InputError(
            fmt::format("{}: no '{}' column (Open-Sora's CSV has path, text, "
                        "num_frames, height, width, fps, ...); found: {}",
                        csv_, column, fmt::join(table.header(), ", ")));
    }
    if (!detailed_column_.empty() && !table.HasColumn(detailed_column_))
      throw InputError(fmt::format("{}: no '{}' column for detailed captions (detailed_column)",
                                   csv_, detailed_column_));
    if (!buckets_.empty() &&
        !(table.HasColumn("num_frames") && table.HasColumn("height") && table.HasColumn("width")))
      throw InputError(fmt::format(
          "{}: buckets are chosen from each video's num_frames, height and width columns, which "
          "it lacks (Open-Sora's tools add them)",
          csv_));
    if (native_size_ && !(table.HasColumn("height") && table.HasColumn("width")))
      throw InputError(fmt::format(
          "{}: height = width = 0 takes each video's size from the CSV, which has no height and "
          "width columns",
          csv_));
    std::vector<Row> rows;
    for (size_t r = 0; r < table.rows(); ++r) {
      Row row;
      std::string where = fmt::format("{}:{}", csv_, table.Line(r));
      const std::string& path = table.Field(r, "path");
      if (path.empty()) throw InputError(where + ": empty 'path'");
      row.path = fs::path(path).is_absolute() ? fs::path(path) : root_ / path;
      row.text = table.Field(r, "text");
      if (!detailed_column_.empty()) row.detailed = table.Field(r, detailed_column_);
      auto number = [&](const char* column, bool required) -> double {
        const std::string& field = table.Field(r, column);
        std::optional<double> v = Number(field);
        if (!v && (required || !field.empty()))
          throw InputError(
              fmt::format("{}: column '{}' must be a number >= 0, got '{}'", where, column, field));
        return v.value_or(0);
      };
      const bool bucketed = !buckets_.empty();
      row.num_frames = static_cast<int64_t>(number("num_frames", bucketed));
      row.height = static_cast<int64_t>(number("height", native_size_ || bucketed));
      row.width = static_cast<int64_t>(number("width", native_size_ || bucketed));
      row.fps = number("fps", false);
      if (native_size_ && (row.height < 1 || row.width < 1))
        throw InputError(
            fmt::format("{}: height and width must be >= 1 to decode at the "
                        "video's own size, got {}x{}",
                        where, row.width, row.height));
      if (bucketed) {
        // The row's number in the CSV seeds its keep draw, so the choice survives reordering of
        // nothing but the CSV itself.
        row.bucket = buckets_.Assign(row.num_frames, row.height, row.width, request_.frame_interval,
                                     seed_, static_cast<int64_t>(r));
        if (!row.bucket) {
          no_bucket_ += 1;
          continue;
        }
        bucket_counts_[row.bucket->Name()] += 1;
      }
      rows.push_back(std::move(row));
    }
    rows_ = std::move(rows);
  }

  int64_t size() const override { return static_cast<int64_t>(rows_.size()); }

  Sample Get(int64_t index) override {
    if (index < 0 || index >= size())
      throw InputError(fmt::format("video_csv: index {} out of range [0, {})", index, size()));
    const Row& row = rows_[index];
    ClipRequest request = request_;
    if (native_size_) {
      request.height = row.height;
      request.width = row.width;
    }
    if (row.bucket) {
      request.num_frames = row.bucket->frames;
      request.height = row.bucket->height;
      request.width = row.bucket->width;
    }
    request.expected_frames = row.num_frames;
    request.random_draw =
        DeterministicRng(DeriveSeed(seed_, {static_cast<uint64_t>(index)})).Uniform();
    Clip clip;
    try {
      clip = DecodeClip(row.path, request);
    } catch (const VideoDecodeError& e) {
      {
        std::lock_guard lock(mutex_);
        skipped_.emplace(index, e.what());
      }
      std::string message = fmt::format("{} (row {} of {})", e.what(), index, csv_);
      if (on_error_ == "skip") throw SkipSample(message);
      throw InputError(message + "; set on_error = \"skip\" to skip unusable videos");
    }
    Sample s;
    s.video = clip.video;
    s.captions["short"] = row.text;
    if (!row.detailed.empty()) s.captions["detailed"] = row.detailed;
    double fps = clip.fps > 0 ? clip.fps : (row.fps > 0 ? row.fps : 24.0);
    s.fps = fps / static_cast<double>(request.frame_interval);  // as Open-Sora passes it
    s.height = request.height;
    s.width = request.width;
    s.index = index;
    s.labels = {{"path", row.path.string()},
                {"first_frame", clip.first_frame},
                {"source_frames", clip.source_frames},
                {"source_height", clip.source_height},
                {"source_width", clip.source_width}};
    if (row.bucket) s.labels["bucket"] = row.bucket->Name();
    return s;
  }

  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    if (!buckets_.empty()) {
      const BucketChoice& b = *rows_.at(index).bucket;
      return std::array<int64_t, 4>{3, b.frames, b.height, b.width};
    }
    if (!native_size_) return std::nullopt;
    const Row& row = rows_.at(index);
    return std::array<int64_t, 4>{3, request_.num_frames, row.height, row.width};
  }

  // The CSV's content; the host keys the options. The videos themselves are not fingerprinted
  // (that would read every file of a large data set): a CSV listing other files is another key.
  // The CSV and every video it names (size and 4 KiB head and tail each: a re-encoded or
  // replaced clip changes the key without a pass over every byte of the data set). Computed on
  // first use, so runs that key nothing on it do not pay for it.
  std::string CacheKey() const override {
    std::lock_guard lock(mutex_);
    if (key_.empty()) {
      ContentHash key("data.video_csv/2");
      key.Add("csv", csv_fingerprint_);
      for (const Row& row : rows_) {
        std::error_code ec;
        key.Add(row.path.string(),
                fs::is_regular_file(row.path, ec) ? FileFingerprint(row.path, 4096) : "missing");
      }
      key_ = key.Hex();
    }
    return key_;
  }

  nlohmann::json Summary() const override {
    std::lock_guard lock(mutex_);
    nlohmann::json files = nlohmann::json::array();
    for (const auto& [index, reason] : skipped_) {
      if (files.size() == 20) break;
      files.push_back({{"index", index}, {"path", rows_[index].path.string()}, {"reason", reason}});
    }
    nlohmann::json summary = {{"csv", csv_},
                              {"rows", rows_.size()},
                              {"skipped", skipped_.size()},
                              {"skipped_files", files}};
    if (!buckets_.empty()) {
      summary["buckets"] = bucket_counts_;
      summary["no_bucket"] = no_bucket_;
    }
    return summary;
  }

 private:
  std::string csv_;
  std::string root_option_;
  std::string detailed_column_;
  fs::path root_;
  std::string csv_fingerprint_;
  ClipRequest request_;
  uint64_t seed_ = 0;
  std::string on_error_;
  bool native_size_ = false;
  std::vector<Row> rows_;
  BucketTable buckets_;
  std::map<std::string, int64_t> bucket_counts_;
  int64_t no_bucket_ = 0;  // rows that fit no bucket (or were not kept): left out
  mutable std::mutex mutex_;
  mutable std::string key_;                 // CacheKey(), once computed
  std::map<int64_t, std::string> skipped_;  // unusable rows seen so far, by index
};

}  // namespace

}  // namespace modelgrow::video_csv

MODELGROW_DATA_PIPELINE(modelgrow::video_csv::VideoCsvPipeline, "video_csv", "1.0.0",
                        "Videos listed in an Open-Sora CSV (path, text, num_frames, ...), decoded "
                        "with FFmpeg, sampled, resized, centre-cropped; unusable files skipped")
