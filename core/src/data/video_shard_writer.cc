#include "modelgrow/data/video_shard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/hdf5.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct VideoShardWriter::Impl {
  fs::path path, temp;
  VideoShardWriterOptions options;
  hdf5::File file;
  int64_t n = 0;
  bool committed = false;
  std::map<std::string, std::vector<std::string>> captions;
  std::vector<double> fps;
  std::vector<int64_t> height, width, index;
  std::vector<std::string> labels;
  bool any_labels = false;
  std::vector<std::string> categories;  // the label schema's, in name order: /targets' columns
  std::vector<int64_t> targets;         // [n, categories.size()], -1 = not shown
  struct Text {
    hdf5::Dataset embedding, mask;
    int64_t length = 0, dim = 0;
    bool has_mask = false;
  };
  std::map<std::string, Text> text;

  // Runs a write into the temporary file; a RunError from it (a full disk) names the shard the
  // user will look for, not the temporary file beside it, which goes.
  template <typename F>
  void Writing(F&& write) {
    try {
      write();
    } catch (const RunError& e) {
      std::string message = e.what();
      const std::string temp_name = temp.string();
      for (size_t at = message.find(temp_name); at != std::string::npos;
           at = message.find(temp_name, at))
        message.replace(at, temp_name.size(), path.string());
      Discard();
      throw RunError(message);
    }
  }
  // Closes and removes the temporary file.
  void Discard() {
    text.clear();
    file = hdf5::File();
    std::error_code ec;
    fs::remove(temp, ec);
  }

  std::map<std::string, std::pair<at::Tensor, at::Tensor>> CheckText(const Sample& sample) const;
  std::vector<int64_t> CheckTargets(const Sample& sample) const;
  void WriteText(const std::map<std::string, std::pair<at::Tensor, at::Tensor>>& checked);
};

// Validates a sample's text embeddings against the shard's (before anything is written), and
// returns them as [L, D] float and [L] uint8 (undefined when absent), by name.
std::map<std::string, std::pair<at::Tensor, at::Tensor>> VideoShardWriter::Impl::CheckText(
    const Sample& sample) const {
  std::vector<std::string> names, expected;
  for (const auto& [name, t] : sample.text_embeddings) names.push_back(name);
  for (const auto& [name, t] : text) expected.push_back(name);
  if (n > 0 && names != expected)
    throw InputError(fmt::format(
        "sample {} carries text embeddings [{}] but the shard's first sample carried [{}]: every "
        "sample of a shard needs the same ones",
        sample.index, fmt::join(names, ", "), fmt::join(expected, ", ")));
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> out;
  for (const auto& [name, encoding] : sample.text_embeddings) {
    if (name.empty() || name.find('/') != std::string::npos)
      throw InputError(fmt::format(
          "sample {}: text embedding name '{}' must be non-empty without '/'", sample.index, name));
    at::Tensor e = encoding.embedding;
    if (!e.defined() || !(e.dim() == 2 || (e.dim() == 3 && e.size(0) == 1)))
      throw InputError(fmt::format("sample {}: text embedding '{}' must be [L, D] or [1, L, D]",
                                   sample.index, name));
    e = e.reshape({e.size(-2), e.size(-1)}).to(torch::kCPU, torch::kFloat).contiguous();
    at::Tensor m = encoding.mask;
    if (m.defined()) m = m.reshape({-1}).to(torch::kCPU, torch::kByte).contiguous();
    if (m.defined() && m.size(0) != e.size(0))
      throw InputError(fmt::format("sample {}: text mask '{}' has {} entries for {} tokens",
                                   sample.index, name, m.size(0), e.size(0)));
    auto it = text.find(name);
    if (it != text.end()) {
      const Text& t = it->second;
      if (e.size(0) != t.length || e.size(1) != t.dim || m.defined() != t.has_mask)
        throw InputError(fmt::format(
            "sample {}: text embedding '{}' is [{}, {}]{} but the shard's first sample had "
            "[{}, {}]{}",
            sample.index, name, e.size(0), e.size(1), m.defined() ? " with a mask" : "", t.length,
            t.dim, t.has_mask ? " with a mask" : ""));
    }
    out.emplace(name, std::make_pair(e, m));
  }
  return out;
}

// The sample's row of /targets, checked against the label schema.
std::vector<int64_t> VideoShardWriter::Impl::CheckTargets(const Sample& sample) const {
  if (!options.label_schema) {
    if (!sample.targets.empty())
      throw InputError(fmt::format(
          "sample {} carries targets but the shard has no label schema to store them with (the "
          "pipeline declares none)",
          sample.index));
    return {};
  }
  const LabelSchema& schema = *options.label_schema;
  std::vector<int64_t> row(categories.size(), -1);
  for (const auto& [category, value] : sample.targets) {
    auto it = schema.classes.find(category);
    if (it == schema.classes.end())
      throw InputError(
          fmt::format("sample {}: target category '{}' is not in the label schema "
                      "(categories: {})",
                      sample.index, category, fmt::join(categories, ", ")));
    if (!schema.IsValidTarget(category, value))
      throw InputError(fmt::format("sample {}: target '{}' = {}; expected {}", sample.index,
                                   category, value, schema.DescribeTargets(category)));
    row[std::distance(schema.classes.begin(), it)] = value;
  }
  return row;
}

void VideoShardWriter::Impl::WriteText(
    const std::map<std::string, std::pair<at::Tensor, at::Tensor>>& checked) {
  for (const auto& [name, pair] : checked) {
    const at::Tensor& e = pair.first;
    const at::Tensor& m = pair.second;
    if (n == 0) {
      Text t;
      t.length = e.size(0);
      t.dim = e.size(1);
      t.has_mask = m.defined();
      std::string base = "text/" + name;
      // One chunk per sample: the reader reads one sample's row at a time.
      t.embedding =
          file.CreateDataset(base + "/embedding", hdf5::Type::kFloat32, {0, t.length, t.dim},
                             {.chunk = {1, t.length, t.dim}, .growable = true});
      if (t.has_mask)
        t.mask = file.CreateDataset(base + "/mask", hdf5::Type::kUint8, {0, t.length},
                                    {.chunk = {1, t.length}, .growable = true});
      text.emplace(name, std::move(t));
    }
    Text& t = text.at(name);
    t.embedding.AppendRows(1, std::span<const float>(e.data_ptr<float>(), e.numel()));
    if (t.has_mask)
      t.mask.AppendRows(1, std::span<const uint8_t>(m.data_ptr<uint8_t>(), m.numel()));
  }
}

VideoShardWriter::VideoShardWriter(fs::path path, VideoShardWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.compression < 0 || options.compression > 9)
    throw InputError(
        fmt::format("shard compression must be a gzip level 0-9, got {}", options.compression));
  impl_->path = std::move(path);
  impl_->temp = impl_->path;
  impl_->temp += fmt::format(".tmp-{}", ::getpid());
  impl_->options = std::move(options);
  if (impl_->options.label_schema) {
    for (const auto& [category, names] : impl_->options.label_schema->classes)
      impl_->categories.push_back(category);
  }
  impl_->Writing([&] { impl_->file = hdf5::File::Create(impl_->temp); });
}

VideoShardWriter::~VideoShardWriter() {
  if (!impl_->committed) impl_->Discard();
}

int64_t VideoShardWriter::size() const { return impl_->n; }

void VideoShardWriter::Add(const Sample& sample) {
  Impl& s = *impl_;
  if (s.committed) throw RunError("VideoShardWriter::Add after Commit");
  if (!sample.captions.count("short"))
    throw InputError(fmt::format("sample {} has no \"short\" caption", sample.index));
  if (!sample.video.defined() || sample.video.dim() != 4 || !sample.video.is_floating_point())
    throw InputError(
        fmt::format("sample {}: video must be a floating-point [C, T, H, W] tensor", sample.index));
  at::Tensor video = sample.video.to(torch::kCPU, torch::kFloat).contiguous();
  auto text = s.CheckText(sample);
  std::vector<int64_t> targets = s.CheckTargets(sample);

  std::vector<int64_t> dims = video.sizes().vec();
  hdf5::Layout layout;
  if (s.options.compression > 0 && video.numel() > 0) {
    // One chunk per frame: small enough for any video, and a frame compresses on its own.
    layout.chunk = {dims[0], 1, dims[2], dims[3]};
    layout.gzip = s.options.compression;
  }
  s.Writing([&] {
    hdf5::Dataset ds =
        s.file.CreateDataset(fmt::format("videos/{}", s.n), hdf5::Type::kFloat32, dims, layout);
    ds.Write(std::span<const float>(video.data_ptr<float>(), video.numel()));
    s.WriteText(text);
  });

  for (const auto& [kind, caption] : sample.captions) {
    auto [it, added] = s.captions.try_emplace(kind, std::vector<std::string>(s.n));
    it->second.push_back(caption);
  }
  for (auto& [kind, values] : s.captions) values.resize(s.n + 1);  // "" where a kind is missing
  s.fps.push_back(sample.fps);
  s.height.push_back(sample.height);
  s.width.push_back(sample.width);
  s.index.push_back(sample.index);
  bool has_labels = !sample.labels.is_null();
  s.labels.push_back(has_labels ? sample.labels.dump() : "");
  s.any_labels |= has_labels;
  s.targets.insert(s.targets.end(), targets.begin(), targets.end());
  s.n += 1;
}

void VideoShardWriter::Commit() {
  Impl& s = *impl_;
  if (s.committed) return;
  if (s.n == 0)
    throw RunError(fmt::format("{}: a shard needs at least one sample", s.path.string()));
  s.Writing([&] {
    for (const auto& [kind, values] : s.captions) s.file.WriteStrings("captions/" + kind, values);
    s.file.CreateDataset("fps", hdf5::Type::kFloat64, {s.n}).Write(std::span<const double>(s.fps));
    s.file.CreateDataset("height", hdf5::Type::kInt64, {s.n})
        .Write(std::span<const int64_t>(s.height));
    s.file.CreateDataset("width", hdf5::Type::kInt64, {s.n})
        .Write(std::span<const int64_t>(s.width));
    s.file.CreateDataset("index", hdf5::Type::kInt64, {s.n})
        .Write(std::span<const int64_t>(s.index));
    if (s.any_labels) s.file.WriteStrings("labels", s.labels);
    if (s.options.label_schema) {
      const int64_t k = static_cast<int64_t>(s.categories.size());
      hdf5::Dataset targets = s.file.CreateDataset("targets", hdf5::Type::kInt64, {s.n, k});
      targets.Write(std::span<const int64_t>(s.targets));
      targets.SetAttribute("categories", json(s.categories).dump());
    }
    for (const auto& [name, attributes] : s.options.text_attributes) {
      if (!s.text.count(name)) continue;
      hdf5::Group group = s.file.OpenGroup("text/" + name);
      for (const auto& [key, value] : attributes) group.SetAttribute(key, value);
    }
    s.file.SetAttribute("format", kVideoShardFormat);
    s.file.SetAttribute("format_version", kVideoShardVersion);
    s.file.SetAttribute("latent", int64_t{s.options.latent ? 1 : 0});
    s.file.SetAttribute("source", s.options.source);
    s.file.SetAttribute("created", UtcTimestamp());
    if (s.options.label_schema)
      s.file.SetAttribute("label_schema", s.options.label_schema->ToJson().dump());
    s.text.clear();
    s.file.Flush();
    s.file.Close();
  });

  int fd = ::open(s.temp.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    s.Discard();
    throw RunError(fmt::format("{}: cannot write ({})", s.path.string(), std::strerror(error)));
  }
  ::close(fd);
  std::error_code ec;
  fs::rename(s.temp, s.path, ec);
  if (ec) {
    s.Discard();
    throw RunError(fmt::format("{}: cannot write ({})", s.path.string(), ec.message()));
  }
  FsyncDirectory(s.path.parent_path().empty() ? fs::path(".") : s.path.parent_path());
  s.committed = true;
}

}  // namespace modelgrow
