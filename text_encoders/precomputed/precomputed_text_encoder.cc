// The `precomputed` text encoder: embeddings and masks that users made with their own Python
// stack, read from HDF5 by prompt hash (SHA-256 of the UTF-8 prompt) or by sample index. The
// schema is in docs/text-encoders.md.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <span>
#include <unordered_map>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/hdf5.h"
#include "modelgrow/sdk/limits.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {
namespace {

class PrecomputedTextEncoder : public TextEncoder, public SampleIndexedTextEncoder {
 public:
  // The conformance suites' tables: one file (testdata/, made by
  // scripts/goldens/make_plugin_testdata.py) holding `prompt_sha256` and `prompts` for the
  // prompts listed, read by prompt hash and by sample index. `test_prompts` is not an option: it
  // tells the suite which prompts the file has embeddings for.
  static constexpr const char* kExamples = R"toml(
[[example]]
path = "${data}/embeddings.h5"
test_prompts = ["", "a red circle moves left", "a blue square moves right",
                "a green triangle moves up", "a yellow diamond stays still",
                "A video of one object on a plain black background."]

[[example]]
path = "${data}"
name = "embeddings"
key = "index"
test_prompts = ["", "a red circle moves left", "a blue square moves right",
                "a green triangle moves up", "a yellow diamond stays still",
                "A video of one object on a plain black background."]
)toml";

  explicit PrecomputedTextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    path_ = o.RequireString("path");
    key_mode_ = o.Choice("key", "prompt_hash", {"prompt_hash", "index"});
    name_ = o.String("name", "precomputed");
    if (name_.empty() || name_.find('/') != std::string::npos) {
      o.Fail("name", "must be a plain name (it names the file inside a folder `path`)");
    }
  }

  void Load() override {
    if (loaded_) return;
    file_ = std::filesystem::is_directory(path_) ? path_ / (name_ + ".h5") : path_;
    if (!std::filesystem::is_regular_file(file_)) {
      throw InputError(
          fmt::format("precomputed embeddings file {} does not exist", file_.string()));
    }
    h5_ = hdf5::File::Open(file_);
    embeddings_ = OpenDataset("embeddings", true);
    masks_ = OpenDataset("masks", true);
    std::vector<int64_t> e = embeddings_.dims(), m = masks_.dims();
    if (e.size() != 3) Fail("dataset 'embeddings' must be [N, L, D]");
    if (embeddings_.type_class() != hdf5::Class::kFloat) {
      Fail("dataset 'embeddings' must hold floats (float32 or float16)");
    }
    // Encode() allocates [prompts, L, D]: one row's size is bounded here, as the file is opened.
    if (!limits::CheckedProduct({e[1], e[2]}) || e[0] > limits::kMaxDimension)
      Fail(
          fmt::format("dataset 'embeddings' has shape [{}, {}, {}], above the limit of {} values "
                      "per row",
                      e[0], e[1], e[2], limits::kMaxElements));
    rows_ = e[0];
    length_ = e[1];
    dim_ = e[2];
    if (m.size() != 2 || m[0] != e[0] || m[1] != e[1]) {
      Fail(fmt::format("dataset 'masks' must be [N, L] = [{}, {}] to match 'embeddings'", e[0],
                       e[1]));
    }
    hdf5::Class mask_class = masks_.type_class();
    if (mask_class != hdf5::Class::kInteger && mask_class != hdf5::Class::kEnum) {
      Fail("dataset 'masks' must hold integers (uint8 0/1) or booleans");
    }

    hdf5::Dataset hashes = OpenDataset("prompt_sha256", key_mode_ == "prompt_hash");
    hdf5::Dataset prompts = OpenDataset("prompts", false);
    if (hashes.valid()) {
      std::vector<std::string> list = ReadStrings(hashes, "prompt_sha256");
      for (size_t i = 0; i < list.size(); ++i) {
        std::string h = list[i];
        std::transform(h.begin(), h.end(), h.begin(), ::tolower);
        if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
          Fail(fmt::format("prompt_sha256[{}] = \"{}\" is not a SHA-256 hex digest", i, list[i]));
        }
        rows_by_hash_.emplace(h, static_cast<int64_t>(i));
      }
    } else if (prompts.valid()) {
      std::vector<std::string> list = ReadStrings(prompts, "prompts");
      for (size_t i = 0; i < list.size(); ++i) {
        rows_by_hash_.emplace(Sha256Hex(list[i]), static_cast<int64_t>(i));
      }
    }
    key_ = fmt::format("precomputed-{}-{}", name_,
                       ContentHash("precomputed")
                           .Add("key", key_mode_)
                           .Add("file", FileFingerprint(file_))
                           .Short());
    loaded_ = true;
  }

  int64_t dim() const override { return dim_; }
  int64_t max_length() const override { return length_; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::vector<int64_t> rows;
    std::vector<std::string> missing;
    for (const std::string& prompt : prompts) {
      std::string hash = Sha256Hex(prompt);
      auto it = rows_by_hash_.find(hash);
      if (it == rows_by_hash_.end()) {
        if (missing.size() < 5) missing.push_back(fmt::format("\"{}\" (sha256 {})", prompt, hash));
        rows.push_back(-1);
      } else {
        rows.push_back(it->second);
      }
    }
    if (rows_by_hash_.empty() && key_mode_ == "index") {
      throw InputError(fmt::format(
          "{}: embeddings keyed by sample index are read by sample (EncodeSamples); this file has "
          "no `prompts` dataset to look prompts up in",
          file_.string()));
    }
    if (!missing.empty()) {
      int64_t count = std::count(rows.begin(), rows.end(), -1);
      std::string list;
      for (const std::string& m : missing) list += "\n  " + m;
      throw InputError(fmt::format("{}: {} prompt(s) have no precomputed embedding:{}{}",
                                   file_.string(), count, list,
                                   count > 5 ? fmt::format("\n  ... and {} more", count - 5) : ""));
    }
    return ReadRows(rows);
  }

  TextEncoding EncodeSamples(const std::vector<int64_t>& indices) override {
    for (int64_t i : indices) {
      if (i < 0 || i >= rows_) {
        throw InputError(fmt::format("{}: sample index {} is out of range (the file holds {} rows)",
                                     file_.string(), i, rows_));
      }
    }
    return ReadRows(indices);
  }

  std::string CacheKey() const override { return key_; }

  nlohmann::json Describe() const override {
    return {{"encoder", "precomputed"},
            {"name", name_},
            {"file", file_.string()},
            {"key", key_mode_},
            {"rows", rows_},
            {"max_length", length_},
            {"dim", dim_},
            {"null_policy", "model_buffer"}};
  }

 private:
  [[noreturn]] void Fail(const std::string& message) const {
    throw InputError(fmt::format("{}: {}", file_.string(), message));
  }

  // The dataset `name` at the file's root; an empty handle when it is absent and not required.
  hdf5::Dataset OpenDataset(const char* name, bool required) const {
    if (!h5_.Exists(name)) {
      if (required) Fail(fmt::format("has no dataset '{}' (see docs/text-encoders.md)", name));
      return {};
    }
    return h5_.OpenDataset(name);
  }

  std::vector<std::string> ReadStrings(const hdf5::Dataset& dataset, const char* name) const {
    std::vector<int64_t> dims = dataset.dims();
    if (dims.size() != 1) Fail(fmt::format("dataset '{}' must be one-dimensional", name));
    if (dataset.type_class() != hdf5::Class::kString) {
      Fail(fmt::format("dataset '{}' must hold strings", name));
    }
    if (dims[0] != rows_) {
      Fail(fmt::format("dataset '{}' has {} entries for {} rows", name, dims[0], rows_));
    }
    return dataset.ReadStrings();
  }

  // The HDF5 layer serializes the reads of every thread; each row is read on its own, so only
  // the rows asked for leave the file.
  TextEncoding ReadRows(const std::vector<int64_t>& rows) const {
    const int64_t n = static_cast<int64_t>(rows.size());
    TextEncoding out;
    out.embedding = at::empty({n, length_, dim_}, at::kFloat);
    at::Tensor mask = at::empty({n, length_}, at::kByte);
    for (int64_t i = 0; i < n; ++i) {
      embeddings_.ReadRows(rows[i], 1,
                           std::span<float>(out.embedding[i].data_ptr<float>(), length_ * dim_));
      masks_.ReadRows(rows[i], 1, std::span<uint8_t>(mask[i].data_ptr<uint8_t>(), length_));
    }
    out.mask = mask.to(at::kBool);
    return out;
  }

  // Options.
  std::filesystem::path path_;
  std::string key_mode_, name_;
  // What Load() found.
  bool loaded_ = false;
  std::filesystem::path file_;
  std::string key_;
  hdf5::File h5_;
  hdf5::Dataset embeddings_, masks_;
  int64_t rows_ = 0, length_ = 0, dim_ = 0;
  std::unordered_map<std::string, int64_t> rows_by_hash_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::PrecomputedTextEncoder, "precomputed", "1.1.0",
                       "embeddings and masks precomputed elsewhere, read from HDF5 by prompt "
                       "SHA-256 or sample index");
