#include "modelgrow/data/video_shard_reader.h"

#include <algorithm>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/hdf5.h"
#include "modelgrow/sdk/limits.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct VideoShardReader::Impl {
  fs::path file;
  uintmax_t file_size = 0;
  hdf5::File h5;
  int64_t n = 0;
  bool latent = false;
  std::vector<std::array<int64_t, 4>> shapes;
  std::map<std::string, std::vector<std::string>> captions;
  std::vector<double> fps;
  std::vector<int64_t> height, width;
  std::vector<std::string> labels;  // empty when the shard has none
  std::optional<LabelSchema> label_schema;
  std::vector<std::string> categories;  // the schema's, in name order: /targets' columns
  std::vector<int64_t> targets;         // [n, categories.size()]
  struct Text {
    int64_t length = 0, dim = 0;
    bool has_mask = false;
    json attributes = json::object();
  };
  std::map<std::string, Text> text;
  json attributes = json::object();

  [[noreturn]] void Bad(const std::string& dataset, const std::string& what) const {
    throw InputError(fmt::format("{}: dataset '{}': {}", file.string(), dataset, what));
  }
  // Refuses a sample's `values` floats of `dataset` that the file could not hold: Read allocates
  // them before HDF5 reads (or fills) them. Deflate, the strongest filter a shard's writers use,
  // expands data at most 1032-fold (a 20 KB shard's text embedding stated [4, 4294967289] floats
  // per sample, 68 GB; found by fuzz_hdf5_shard).
  void CheckStored(const std::string& dataset, int64_t values) const {
    constexpr uintmax_t kMaxExpansion = 1032;
    const uintmax_t bytes = static_cast<uintmax_t>(values) * sizeof(float);
    if (bytes / kMaxExpansion > file_size) {
      Bad(dataset, fmt::format("one sample states {} values ({} bytes), more than the {}-byte "
                               "file can hold even compressed",
                               values, bytes, file_size));
    }
  }
  std::vector<std::string> ReadStrings(const std::string& path) const;
  template <typename T>
  std::vector<T> ReadNumbers(const std::string& path, bool allow_float) const;
  void ReadLabelSchema();
};

std::vector<std::string> VideoShardReader::Impl::ReadStrings(const std::string& path) const {
  hdf5::Dataset ds = h5.OpenDataset(path);
  if (ds.type_class() != hdf5::Class::kString) Bad(path, "expected strings");
  std::vector<int64_t> dims = ds.dims();
  if (dims.size() != 1 || dims[0] != n)
    Bad(path, fmt::format("expected {} strings (one per sample), found shape [{}]", n,
                          fmt::join(dims, ", ")));
  return ds.ReadStrings();
}

template <typename T>
std::vector<T> VideoShardReader::Impl::ReadNumbers(const std::string& path,
                                                   bool allow_float) const {
  hdf5::Dataset ds = h5.OpenDataset(path);
  hdf5::Class c = ds.type_class();
  if (c != hdf5::Class::kInteger && !(allow_float && c == hdf5::Class::kFloat))
    Bad(path, allow_float ? "expected numbers" : "expected integers");
  std::vector<int64_t> dims = ds.dims();
  if (dims.size() != 1 || dims[0] != n)
    Bad(path, fmt::format("expected {} values (one per sample), found shape [{}]", n,
                          fmt::join(dims, ", ")));
  std::vector<T> out(n);
  ds.Read(std::span<T>(out));
  return out;
}

// The root attribute label_schema and the /targets that index into it, every value checked.
void VideoShardReader::Impl::ReadLabelSchema() {
  const bool has_targets = h5.Exists("/targets");
  if (!attributes.contains("label_schema")) {
    if (has_targets)
      Bad("/targets", "present, but the root attribute 'label_schema' it indexes into is missing");
    return;
  }
  const json& text = attributes["label_schema"];
  try {
    if (!text.is_string()) throw InputError("expected a JSON string");
    label_schema = LabelSchema::FromJson(json::parse(text.get<std::string>()));
  } catch (const std::exception& e) {
    throw InputError(
        fmt::format("{}: root attribute 'label_schema' is not a label schema ({}); "
                    "see docs/formats.md",
                    file.string(), e.what()));
  }
  for (const auto& [category, names] : label_schema->classes) categories.push_back(category);
  const int64_t k = static_cast<int64_t>(categories.size());
  if (!has_targets) Bad("/targets", "missing (the shard has a 'label_schema')");
  hdf5::Dataset ds = h5.OpenDataset("/targets");
  if (ds.type_class() != hdf5::Class::kInteger) Bad("/targets", "expected integers");
  std::vector<int64_t> dims = ds.dims();
  if (dims.size() != 2 || dims[0] != n || dims[1] != k)
    Bad("/targets",
        fmt::format("expected [N={}, K={}] (one column per label category), found shape [{}]", n, k,
                    fmt::join(dims, ", ")));
  // The optional `categories` attribute names the columns; when present it must agree.
  json declared = ds.Attributes({"categories"}).value("categories", json());
  if (!declared.is_null()) {
    if (!declared.is_string()) Bad("/targets", "attribute 'categories' must be a JSON string");
    json list = json::parse(declared.get<std::string>(), nullptr, false);
    if (list != json(categories))
      Bad("/targets", fmt::format("attribute 'categories' is {} but the label schema's categories "
                                  "in name order are {}",
                                  declared.get<std::string>(), json(categories).dump()));
  }
  limits::CheckElements(std::vector<int64_t>{n, k},
                        fmt::format("{}: dataset '/targets'", file.string()), "its shape");
  targets.resize(n * k);
  ds.Read(std::span<int64_t>(targets));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < k; ++c) {
      int64_t v = targets[i * k + c];
      if (v != -1 && !label_schema->IsValidTarget(categories[c], v))
        Bad("/targets",
            fmt::format("sample {}: '{}' = {}; expected {} (or -1: not shown)", i, categories[c], v,
                        label_schema->DescribeTargets(categories[c])));
    }
  }
}

VideoShardReader::VideoShardReader() : impl_(std::make_unique<Impl>()) {}

VideoShardReader::~VideoShardReader() = default;

std::shared_ptr<VideoShardReader> VideoShardReader::Open(const fs::path& file) {
  std::shared_ptr<VideoShardReader> reader(new VideoShardReader());
  Impl& s = *reader->impl_;
  s.file = file;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw InputError(fmt::format("{}: shard file does not exist", file.string()));
  s.h5 = hdf5::File::Open(file);
  s.file_size = fs::file_size(file, ec);
  // Attributes are read by the names the format gives them (docs/formats.md), never listed: HDF5
  // crashes listing a corrupt attribute table (hdf5::Object::Attributes says why).
  s.attributes =
      s.h5.Attributes({"format", "format_version", "latent", "source", "created", "label_schema"});
  const json& attr = s.attributes;
  if (!attr.contains("format") || attr["format"] != kVideoShardFormat)
    throw InputError(fmt::format(
        "{}: not a ModelGrow video shard: root attribute 'format' is {} (expected \"{}\"; see "
        "docs/formats.md)",
        file.string(), attr.contains("format") ? attr["format"].dump() : "missing",
        kVideoShardFormat));
  if (!attr.contains("format_version") || !attr["format_version"].is_number_integer() ||
      attr["format_version"].get<int64_t>() < 1 ||
      attr["format_version"].get<int64_t>() > kVideoShardVersion)
    throw InputError(fmt::format(
        "{}: root attribute 'format_version' is {}; this build reads versions 1 to {}",
        file.string(), attr.contains("format_version") ? attr["format_version"].dump() : "missing",
        kVideoShardVersion));
  s.latent =
      attr.contains("latent") && attr["latent"].is_number() && attr["latent"].get<double>() != 0;

  // The short captions define the sample count.
  {
    hdf5::Dataset ds = s.h5.OpenDataset("/captions/short");
    std::vector<int64_t> dims = ds.dims();
    if (dims.size() != 1) s.Bad("/captions/short", "expected a 1-D array of strings");
    // Every per-sample list below is sized by this count: bounded before any is allocated (an
    // HDF5 dataspace may claim 2^60 entries while storing nothing).
    s.n = limits::CheckLimit(dims[0], limits::kMaxCount,
                             fmt::format("{}: dataset '/captions/short'", file.string()),
                             "the sample count");
  }
  for (const std::string& kind : s.h5.Children("/captions"))
    s.captions.emplace(kind, s.ReadStrings("/captions/" + kind));
  s.fps = s.ReadNumbers<double>("/fps", true);
  s.height = s.ReadNumbers<int64_t>("/height", false);
  s.width = s.ReadNumbers<int64_t>("/width", false);
  if (s.h5.Exists("/labels")) s.labels = s.ReadStrings("/labels");
  if (s.h5.Exists("/index")) s.ReadNumbers<int64_t>("/index", false);
  s.ReadLabelSchema();

  s.shapes.resize(s.n);
  for (int64_t i = 0; i < s.n; ++i) {
    std::string path = fmt::format("/videos/{}", i);
    hdf5::Dataset ds = s.h5.OpenDataset(path);
    if (ds.type_class() != hdf5::Class::kFloat)
      s.Bad(path, "expected floating-point values (pixels in [-1, 1] or latents)");
    std::vector<int64_t> dims = ds.dims();
    if (dims.size() != 4)
      s.Bad(path, fmt::format("expected [C, T, H, W], found shape [{}]", fmt::join(dims, ", ")));
    // Read() allocates this shape whole: bounded here, when the shard is opened.
    s.CheckStored(path,
                  limits::CheckElements(dims, fmt::format("{}: dataset '{}'", file.string(), path),
                                        "its shape"));
    std::copy(dims.begin(), dims.end(), s.shapes[i].begin());
  }

  if (s.h5.Exists("/text")) {
    for (const std::string& name : s.h5.Children("/text")) {
      Impl::Text t;
      std::string base = "/text/" + name;
      try {
        t.attributes = s.h5.OpenGroup(base).Attributes({"caption", "encoder"});
      } catch (const InputError&) {
        s.Bad(base, "expected a group holding 'embedding' and 'mask'");
      }
      hdf5::Dataset e = s.h5.OpenDataset(base + "/embedding");
      if (e.type_class() != hdf5::Class::kFloat)
        s.Bad(base + "/embedding", "expected floating-point values");
      std::vector<int64_t> dims = e.dims();
      if (dims.size() != 3 || dims[0] != s.n)
        s.Bad(base + "/embedding",
              fmt::format("expected [N={}, L, D], found shape [{}]", s.n, fmt::join(dims, ", ")));
      s.CheckStored(
          base + "/embedding",
          limits::CheckElements(std::vector<int64_t>{dims[1], dims[2]},
                                fmt::format("{}: dataset '{}/embedding'", file.string(), base),
                                "one sample's [L, D]"));
      t.length = dims[1];
      t.dim = dims[2];
      if (s.h5.Exists(base + "/mask")) {
        hdf5::Dataset m = s.h5.OpenDataset(base + "/mask");
        hdf5::Class c = m.type_class();
        if (!(c == hdf5::Class::kInteger || (c == hdf5::Class::kEnum && m.element_size() == 1)))
          s.Bad(base + "/mask", "expected integers or booleans (nonzero = a real token)");
        std::vector<int64_t> mdims = m.dims();
        if (mdims.size() != 2 || mdims[0] != s.n || mdims[1] != t.length)
          s.Bad(base + "/mask", fmt::format("expected [N={}, L={}], found shape [{}]", s.n,
                                            t.length, fmt::join(mdims, ", ")));
        t.has_mask = true;
      }
      s.text.emplace(name, std::move(t));
    }
  }
  return reader;
}

const fs::path& VideoShardReader::file() const { return impl_->file; }
int64_t VideoShardReader::size() const { return impl_->n; }
bool VideoShardReader::latent() const { return impl_->latent; }
std::array<int64_t, 4> VideoShardReader::Shape(int64_t i) const { return impl_->shapes.at(i); }
bool VideoShardReader::has_labels() const { return !impl_->labels.empty(); }
const std::optional<LabelSchema>& VideoShardReader::label_schema() const {
  return impl_->label_schema;
}

std::vector<std::string> VideoShardReader::caption_kinds() const {
  std::vector<std::string> kinds;
  for (const auto& [kind, values] : impl_->captions) kinds.push_back(kind);
  return kinds;
}

std::vector<std::string> VideoShardReader::text_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : impl_->text) names.push_back(name);
  return names;
}

json VideoShardReader::Describe() const {
  const Impl& s = *impl_;
  json text = json::object();
  for (const auto& [name, t] : s.text) {
    json entry = t.attributes;
    entry["length"] = t.length;
    entry["dim"] = t.dim;
    entry["mask"] = t.has_mask;
    text[name] = entry;
  }
  std::map<std::string, int64_t> shapes;
  for (const auto& shape : s.shapes) shapes[fmt::format("[{}]", fmt::join(shape, ", "))] += 1;
  return {{"file", s.file.string()},
          {"samples", s.n},
          {"attributes", s.attributes},
          {"captions", caption_kinds()},
          {"labels", has_labels()},
          {"label_categories", s.categories},
          {"text", text},
          {"shapes", shapes}};
}

Sample VideoShardReader::Read(int64_t i, bool with_text_embeddings) const {
  const Impl& s = *impl_;
  if (i < 0 || i >= s.n)
    throw InputError(fmt::format("{}: sample {} out of range [0, {})", s.file.string(), i, s.n));
  Sample sample;
  sample.index = i;
  for (const auto& [kind, values] : s.captions) {
    if (!values[i].empty()) sample.captions[kind] = values[i];
  }
  if (!sample.captions.count("short"))
    s.Bad("/captions/short", fmt::format("sample {} has an empty short caption", i));
  sample.fps = s.fps[i];
  sample.height = s.height[i];
  sample.width = s.width[i];
  if (!s.labels.empty() && !s.labels[i].empty()) {
    try {
      sample.labels = json::parse(s.labels[i]);
    } catch (const json::exception& e) {
      s.Bad("/labels", fmt::format("sample {} is not JSON: {}", i, e.what()));
    }
  }
  const size_t k = s.categories.size();
  for (size_t c = 0; c < k; ++c) {
    int64_t v = s.targets[i * k + c];
    if (v >= 0) sample.targets[s.categories[c]] = v;
  }
  const auto& shape = s.shapes[i];
  sample.video = torch::empty({shape[0], shape[1], shape[2], shape[3]}, torch::kFloat);
  s.h5.OpenDataset(fmt::format("/videos/{}", i))
      .Read(std::span<float>(sample.video.data_ptr<float>(), sample.video.numel()));
  if (!with_text_embeddings) return sample;
  for (const auto& [name, t] : s.text) {
    const std::string base = "/text/" + name;
    TextEncoding encoding;
    encoding.embedding = torch::empty({1, t.length, t.dim}, torch::kFloat);
    s.h5.OpenDataset(base + "/embedding")
        .ReadRows(i, 1, std::span<float>(encoding.embedding.data_ptr<float>(), t.length * t.dim));
    if (t.has_mask) {
      // Integers of any width or h5py's bool (an 8-bit enum); nonzero is a real token.
      at::Tensor raw = torch::empty({1, t.length}, torch::kLong);
      s.h5.OpenDataset(base + "/mask")
          .ReadRows(i, 1, std::span<int64_t>(raw.data_ptr<int64_t>(), t.length));
      encoding.mask = raw.ne(0);
    } else {
      encoding.mask = torch::ones({1, t.length}, torch::kBool);
    }
    sample.text_embeddings.emplace(name, std::move(encoding));
  }
  return sample;
}

}  // namespace modelgrow
