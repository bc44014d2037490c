#include "modelgrow/data/video_shard.h"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5.h>

#include "modelgrow/base/errors.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/io/atomic_file.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// One lock for every HDF5 call in the process: a build of the library without its thread-safe
// option (as some distributions ship it) must not be entered from two threads.
std::mutex& Hdf5Mutex() {
  static std::mutex mutex;
  static std::once_flag quiet;
  // The library prints its error stack to stderr by default; errors become exceptions here.
  std::call_once(quiet, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
  return mutex;
}

// The most specific messages on HDF5's error stack ("truncated file: eof = ...").
std::string Hdf5ErrorText() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* out = static_cast<std::vector<std::string>*>(data);
        if (e->desc && *e->desc) out->push_back(e->desc);
        return 0;
      },
      &messages);
  if (messages.empty()) return "unknown HDF5 error";
  std::string text = messages.back();
  if (messages.size() > 1 && messages.front() != text) text = messages.front() + ": " + text;
  return text;
}

// Owns an HDF5 identifier.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      Reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Hid() { Reset(); }
  void Reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

std::vector<int64_t> Dims(hid_t dataset) {
  Hid space(H5Dget_space(dataset), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(std::max(rank, 0));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

Hid VlenStringType() {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// Creates intermediate groups for paths like "text/t5/embedding".
Hid IntermediateGroups() {
  Hid p(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(p.get(), 1);
  return p;
}

// Whether every component of `path` exists below `loc`.
bool Exists(hid_t loc, const std::string& path) {
  std::string prefix;
  size_t start = path[0] == '/' ? 1 : 0;
  if (start) prefix = "/";
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    prefix += path.substr(start, end - start);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    prefix += "/";
    start = end + 1;
  }
  return true;
}

void WriteStringAttribute(hid_t obj, const char* name, const std::string& value) {
  Hid type = VlenStringType();
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &p) < 0)
    throw RunError(fmt::format("cannot write attribute '{}': {}", name, Hdf5ErrorText()));
}

void WriteIntAttribute(hid_t obj, const char* name, int64_t value) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    throw RunError(fmt::format("cannot write attribute '{}': {}", name, Hdf5ErrorText()));
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Writer

struct VideoShardWriter::Impl {
  fs::path path, temp;
  VideoShardWriterOptions options;
  Hid file;
  int64_t n = 0;
  bool committed = false;
  std::map<std::string, std::vector<std::string>> captions;
  std::vector<double> fps;
  std::vector<int64_t> height, width, index;
  std::vector<std::string> labels;
  bool any_labels = false;
  struct Text {
    Hid embedding, mask;
    int64_t length = 0, dim = 0;
    bool has_mask = false;
  };
  std::map<std::string, Text> text;

  [[noreturn]] void Fail(const std::string& what) const {
    throw RunError(fmt::format("{}: {}: {}", path.string(), what, Hdf5ErrorText()));
  }
  void WriteStrings(const std::string& name, const std::vector<std::string>& values);
  template <typename T>
  void WriteNumbers(const std::string& name, const std::vector<T>& values, hid_t file_type,
                    hid_t memory_type);
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> CheckText(const Sample& sample) const;
  void WriteText(const std::map<std::string, std::pair<at::Tensor, at::Tensor>>& checked);
};

void VideoShardWriter::Impl::WriteStrings(const std::string& name,
                                          const std::vector<std::string>& values) {
  Hid type = VlenStringType();
  hsize_t dims[1] = {values.size()};
  Hid space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  Hid lcpl = IntermediateGroups();
  Hid ds(H5Dcreate2(file.get(), name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT,
                    H5P_DEFAULT),
         H5Dclose);
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  if (!ds.valid() ||
      H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
    Fail("cannot write " + name);
}

template <typename T>
void VideoShardWriter::Impl::WriteNumbers(const std::string& name, const std::vector<T>& values,
                                          hid_t file_type, hid_t memory_type) {
  hsize_t dims[1] = {values.size()};
  Hid space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  Hid ds(H5Dcreate2(file.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                    H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid() ||
      H5Dwrite(ds.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    Fail("cannot write " + name);
}

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
      Hid lcpl = IntermediateGroups();
      hsize_t dims[3] = {0, static_cast<hsize_t>(t.length), static_cast<hsize_t>(t.dim)};
      hsize_t max[3] = {H5S_UNLIMITED, dims[1], dims[2]};
      hsize_t chunk[3] = {1, std::max<hsize_t>(dims[1], 1), std::max<hsize_t>(dims[2], 1)};
      Hid space(H5Screate_simple(3, dims, max), H5Sclose);
      Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      H5Pset_chunk(dcpl.get(), 3, chunk);
      std::string base = "text/" + name;
      t.embedding = Hid(H5Dcreate2(file.get(), (base + "/embedding").c_str(), H5T_IEEE_F32LE,
                                   space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                        H5Dclose);
      if (!t.embedding.valid()) Fail("cannot create " + base + "/embedding");
      if (t.has_mask) {
        Hid mspace(H5Screate_simple(2, dims, max), H5Sclose);
        Hid mdcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
        H5Pset_chunk(mdcpl.get(), 2, chunk);
        t.mask = Hid(H5Dcreate2(file.get(), (base + "/mask").c_str(), H5T_STD_U8LE, mspace.get(),
                                lcpl.get(), mdcpl.get(), H5P_DEFAULT),
                     H5Dclose);
        if (!t.mask.valid()) Fail("cannot create " + base + "/mask");
      }
      text.emplace(name, std::move(t));
    }
    Text& t = text.at(name);
    auto append = [&](const Hid& ds, int rank, const void* data, hid_t memory_type) {
      hsize_t extent[3] = {static_cast<hsize_t>(n + 1), static_cast<hsize_t>(t.length),
                           static_cast<hsize_t>(t.dim)};
      if (H5Dset_extent(ds.get(), extent) < 0) Fail("cannot extend text/" + name);
      Hid space(H5Dget_space(ds.get()), H5Sclose);
      hsize_t start[3] = {static_cast<hsize_t>(n), 0, 0};
      hsize_t count[3] = {1, extent[1], extent[2]};
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
      Hid memory(H5Screate_simple(rank, count, nullptr), H5Sclose);
      if (H5Dwrite(ds.get(), memory_type, memory.get(), space.get(), H5P_DEFAULT, data) < 0)
        Fail("cannot write text/" + name);
    };
    append(t.embedding, 3, e.data_ptr<float>(), H5T_NATIVE_FLOAT);
    if (t.has_mask) append(t.mask, 2, m.data_ptr<uint8_t>(), H5T_NATIVE_UINT8);
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
  std::lock_guard lock(Hdf5Mutex());
  impl_->file =
      Hid(H5Fcreate(impl_->temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!impl_->file.valid())
    throw RunError(
        fmt::format("cannot create HDF5 file {}: {}", impl_->temp.string(), Hdf5ErrorText()));
}

VideoShardWriter::~VideoShardWriter() {
  if (impl_->committed) return;
  {
    std::lock_guard lock(Hdf5Mutex());
    impl_->text.clear();
    impl_->file.Reset();
  }
  std::error_code ec;
  fs::remove(impl_->temp, ec);
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

  std::lock_guard lock(Hdf5Mutex());
  hsize_t dims[4];
  for (int d = 0; d < 4; ++d) dims[d] = static_cast<hsize_t>(video.size(d));
  Hid space(H5Screate_simple(4, dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (s.options.compression > 0 && video.numel() > 0) {
    // One chunk per frame: small enough for any video, and a frame compresses on its own.
    hsize_t chunk[4] = {dims[0], 1, dims[2], dims[3]};
    H5Pset_chunk(dcpl.get(), 4, chunk);
    H5Pset_shuffle(dcpl.get());
    H5Pset_deflate(dcpl.get(), s.options.compression);
  }
  Hid lcpl = IntermediateGroups();
  std::string name = fmt::format("videos/{}", s.n);
  Hid ds(H5Dcreate2(s.file.get(), name.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), dcpl.get(),
                    H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid() || H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                              video.data_ptr<float>()) < 0)
    s.Fail("cannot write " + name);
  s.WriteText(text);

  for (const auto& [kind, text] : sample.captions) {
    auto [it, added] = s.captions.try_emplace(kind, std::vector<std::string>(s.n));
    it->second.push_back(text);
  }
  for (auto& [kind, values] : s.captions) values.resize(s.n + 1);  // "" where a kind is missing
  s.fps.push_back(sample.fps);
  s.height.push_back(sample.height);
  s.width.push_back(sample.width);
  s.index.push_back(sample.index);
  bool has_labels = !sample.labels.is_null();
  s.labels.push_back(has_labels ? sample.labels.dump() : "");
  s.any_labels |= has_labels;
  s.n += 1;
}

void VideoShardWriter::Commit() {
  Impl& s = *impl_;
  if (s.committed) return;
  if (s.n == 0)
    throw RunError(fmt::format("{}: a shard needs at least one sample", s.path.string()));
  {
    std::lock_guard lock(Hdf5Mutex());
    for (const auto& [kind, values] : s.captions) s.WriteStrings("captions/" + kind, values);
    s.WriteNumbers("fps", s.fps, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
    s.WriteNumbers("height", s.height, H5T_STD_I64LE, H5T_NATIVE_INT64);
    s.WriteNumbers("width", s.width, H5T_STD_I64LE, H5T_NATIVE_INT64);
    s.WriteNumbers("index", s.index, H5T_STD_I64LE, H5T_NATIVE_INT64);
    if (s.any_labels) s.WriteStrings("labels", s.labels);
    for (const auto& [name, attributes] : s.options.text_attributes) {
      if (!s.text.count(name)) continue;
      Hid group(H5Gopen2(s.file.get(), ("text/" + name).c_str(), H5P_DEFAULT), H5Gclose);
      for (const auto& [key, value] : attributes)
        WriteStringAttribute(group.get(), key.c_str(), value);
    }
    Hid root(H5Gopen2(s.file.get(), "/", H5P_DEFAULT), H5Gclose);
    WriteStringAttribute(root.get(), "format", kVideoShardFormat);
    WriteIntAttribute(root.get(), "format_version", kVideoShardVersion);
    WriteIntAttribute(root.get(), "latent", s.options.latent ? 1 : 0);
    WriteStringAttribute(root.get(), "source", s.options.source);
    WriteStringAttribute(root.get(), "created", UtcTimestamp());
    root.Reset();
    s.text.clear();
    if (H5Fflush(s.file.get(), H5F_SCOPE_GLOBAL) < 0) s.Fail("cannot flush");
    s.file.Reset();
  }
  int fd = ::open(s.temp.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw RunError(fmt::format("cannot sync {}: {}", s.temp.string(), std::strerror(errno)));
  }
  ::close(fd);
  std::error_code ec;
  fs::rename(s.temp, s.path, ec);
  if (ec)
    throw RunError(
        fmt::format("cannot rename {} to {}: {}", s.temp.string(), s.path.string(), ec.message()));
  FsyncDirectory(s.path.parent_path().empty() ? fs::path(".") : s.path.parent_path());
  s.committed = true;
}

// ------------------------------------------------------------------------------------------------
// Reader

struct VideoShardReader::Impl {
  fs::path file;
  Hid fid;
  int64_t n = 0;
  bool latent = false;
  std::vector<std::array<int64_t, 4>> shapes;
  std::map<std::string, std::vector<std::string>> captions;
  std::vector<double> fps;
  std::vector<int64_t> height, width;
  std::vector<std::string> labels;  // empty when the shard has none
  struct Text {
    int64_t length = 0, dim = 0;
    bool has_mask = false;
    bool mask_is_enum = false;  // h5py stores numpy bool as an 8-bit enum
    json attributes = json::object();
  };
  std::map<std::string, Text> text;
  json attributes = json::object();

  [[noreturn]] void Bad(const std::string& dataset, const std::string& what) const {
    throw InputError(fmt::format("{}: dataset '{}': {}", file.string(), dataset, what));
  }
  Hid OpenDataset(const std::string& path) const {
    if (!Exists(fid.get(), path)) Bad(path, "missing");
    Hid ds(H5Dopen2(fid.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) Bad(path, "not a dataset (" + Hdf5ErrorText() + ")");
    return ds;
  }
  H5T_class_t Class(hid_t ds) const {
    Hid type(H5Dget_type(ds), H5Tclose);
    return H5Tget_class(type.get());
  }
  std::vector<std::string> ReadStrings(const std::string& path) const;
  template <typename T>
  std::vector<T> ReadNumbers(const std::string& path, hid_t memory_type, bool allow_float) const;
  std::vector<std::string> Children(const std::string& group) const;
  json ReadAttributes(hid_t obj) const;
};

std::vector<std::string> VideoShardReader::Impl::ReadStrings(const std::string& path) const {
  Hid ds = OpenDataset(path);
  Hid ftype(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING) Bad(path, "expected strings");
  std::vector<int64_t> dims = Dims(ds.get());
  if (dims.size() != 1 || dims[0] != n)
    Bad(path, fmt::format("expected {} strings (one per sample), found shape [{}]", n,
                          fmt::join(dims, ", ")));
  std::vector<std::string> out(n);
  if (n == 0) return out;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Hid mtype = VlenStringType();
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    std::vector<char*> buffer(n, nullptr);
    if (H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      Bad(path, "cannot read: " + Hdf5ErrorText());
    for (int64_t i = 0; i < n; ++i) out[i] = buffer[i] ? buffer[i] : "";
    Hid space(H5Dget_space(ds.get()), H5Sclose);
    H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, buffer.data());
  } else {
    size_t size = H5Tget_size(ftype.get());
    Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), size);
    H5Tset_strpad(mtype.get(), H5Tget_strpad(ftype.get()));
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    std::vector<char> buffer(size * n);
    if (H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      Bad(path, "cannot read: " + Hdf5ErrorText());
    for (int64_t i = 0; i < n; ++i) {
      const char* p = buffer.data() + i * size;
      out[i].assign(p, strnlen(p, size));
    }
  }
  return out;
}

template <typename T>
std::vector<T> VideoShardReader::Impl::ReadNumbers(const std::string& path, hid_t memory_type,
                                                   bool allow_float) const {
  Hid ds = OpenDataset(path);
  H5T_class_t c = Class(ds.get());
  if (c != H5T_INTEGER && !(allow_float && c == H5T_FLOAT))
    Bad(path, allow_float ? "expected numbers" : "expected integers");
  std::vector<int64_t> dims = Dims(ds.get());
  if (dims.size() != 1 || dims[0] != n)
    Bad(path, fmt::format("expected {} values (one per sample), found shape [{}]", n,
                          fmt::join(dims, ", ")));
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    Bad(path, "cannot read: " + Hdf5ErrorText());
  return out;
}

std::vector<std::string> VideoShardReader::Impl::Children(const std::string& group) const {
  std::vector<std::string> names;
  if (!Exists(fid.get(), group)) return names;
  Hid g(H5Gopen2(fid.get(), group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) Bad(group, "expected a group");
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    ssize_t size =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT);
    std::string name(std::max<ssize_t>(size, 0), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), size + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

json VideoShardReader::Impl::ReadAttributes(hid_t obj) const {
  json out = json::object();
  std::vector<std::string> names;
  hsize_t position = 0;
  H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, &position,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  for (const std::string& name : names) {
    Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.valid()) continue;
    Hid type(H5Aget_type(attr.get()), H5Tclose);
    Hid space(H5Aget_space(attr.get()), H5Sclose);
    if (H5Sget_simple_extent_npoints(space.get()) != 1) continue;  // only scalars are ours
    H5T_class_t c = H5Tget_class(type.get());
    if (c == H5T_STRING) {
      if (H5Tis_variable_str(type.get()) > 0) {
        Hid mtype = VlenStringType();
        H5Tset_cset(mtype.get(), H5Tget_cset(type.get()));
        char* p = nullptr;
        if (H5Aread(attr.get(), mtype.get(), &p) >= 0 && p) {
          out[name] = std::string(p);
          H5free_memory(p);
        }
      } else {
        size_t len = H5Tget_size(type.get());
        std::vector<char> buffer(len + 1, '\0');
        Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mtype.get(), len);
        if (H5Aread(attr.get(), mtype.get(), buffer.data()) >= 0)
          out[name] = std::string(buffer.data(), strnlen(buffer.data(), len));
      }
    } else if (c == H5T_INTEGER) {
      int64_t v = 0;
      if (H5Aread(attr.get(), H5T_NATIVE_INT64, &v) >= 0) out[name] = v;
    } else if (c == H5T_FLOAT) {
      double v = 0;
      if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v) >= 0) out[name] = v;
    }
  }
  return out;
}

VideoShardReader::VideoShardReader() : impl_(std::make_unique<Impl>()) {}

VideoShardReader::~VideoShardReader() {
  std::lock_guard lock(Hdf5Mutex());
  impl_->fid.Reset();
}

std::shared_ptr<VideoShardReader> VideoShardReader::Open(const fs::path& file) {
  std::shared_ptr<VideoShardReader> reader(new VideoShardReader());
  Impl& s = *reader->impl_;
  s.file = file;
  std::lock_guard lock(Hdf5Mutex());
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw InputError(fmt::format("{}: shard file does not exist", file.string()));
  s.fid = Hid(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!s.fid.valid())
    throw InputError(fmt::format("{}: cannot open as HDF5 (truncated, damaged or not HDF5): {}",
                                 file.string(), Hdf5ErrorText()));
  {
    Hid root(H5Gopen2(s.fid.get(), "/", H5P_DEFAULT), H5Gclose);
    s.attributes = s.ReadAttributes(root.get());
  }
  auto attr = s.attributes;
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
    Hid ds = s.OpenDataset("/captions/short");
    std::vector<int64_t> dims = Dims(ds.get());
    if (dims.size() != 1) s.Bad("/captions/short", "expected a 1-D array of strings");
    s.n = dims[0];
  }
  for (const std::string& kind : s.Children("/captions")) {
    std::vector<std::string> values = s.ReadStrings("/captions/" + kind);
    s.captions.emplace(kind, std::move(values));
  }
  s.fps = s.ReadNumbers<double>("/fps", H5T_NATIVE_DOUBLE, true);
  s.height = s.ReadNumbers<int64_t>("/height", H5T_NATIVE_INT64, false);
  s.width = s.ReadNumbers<int64_t>("/width", H5T_NATIVE_INT64, false);
  if (Exists(s.fid.get(), "/labels")) s.labels = s.ReadStrings("/labels");
  if (Exists(s.fid.get(), "/index")) s.ReadNumbers<int64_t>("/index", H5T_NATIVE_INT64, false);

  s.shapes.resize(s.n);
  for (int64_t i = 0; i < s.n; ++i) {
    std::string path = fmt::format("/videos/{}", i);
    Hid ds = s.OpenDataset(path);
    if (s.Class(ds.get()) != H5T_FLOAT)
      s.Bad(path, "expected floating-point values (pixels in [-1, 1] or latents)");
    std::vector<int64_t> dims = Dims(ds.get());
    if (dims.size() != 4)
      s.Bad(path, fmt::format("expected [C, T, H, W], found shape [{}]", fmt::join(dims, ", ")));
    std::copy(dims.begin(), dims.end(), s.shapes[i].begin());
  }

  for (const std::string& name : s.Children("/text")) {
    Impl::Text t;
    std::string base = "/text/" + name;
    {
      Hid group(H5Gopen2(s.fid.get(), base.c_str(), H5P_DEFAULT), H5Gclose);
      if (!group.valid()) s.Bad(base, "expected a group holding 'embedding' and 'mask'");
      t.attributes = s.ReadAttributes(group.get());
    }
    Hid e = s.OpenDataset(base + "/embedding");
    if (s.Class(e.get()) != H5T_FLOAT) s.Bad(base + "/embedding", "expected floating-point values");
    std::vector<int64_t> dims = Dims(e.get());
    if (dims.size() != 3 || dims[0] != s.n)
      s.Bad(base + "/embedding",
            fmt::format("expected [N={}, L, D], found shape [{}]", s.n, fmt::join(dims, ", ")));
    t.length = dims[1];
    t.dim = dims[2];
    if (Exists(s.fid.get(), base + "/mask")) {
      Hid m = s.OpenDataset(base + "/mask");
      H5T_class_t c = s.Class(m.get());
      Hid type(H5Dget_type(m.get()), H5Tclose);
      t.mask_is_enum = c == H5T_ENUM;
      if (!(c == H5T_INTEGER || (c == H5T_ENUM && H5Tget_size(type.get()) == 1)))
        s.Bad(base + "/mask", "expected integers or booleans (nonzero = a real token)");
      std::vector<int64_t> mdims = Dims(m.get());
      if (mdims.size() != 2 || mdims[0] != s.n || mdims[1] != t.length)
        s.Bad(base + "/mask", fmt::format("expected [N={}, L={}], found shape [{}]", s.n, t.length,
                                          fmt::join(mdims, ", ")));
      t.has_mask = true;
    }
    s.text.emplace(name, std::move(t));
  }
  return reader;
}

const fs::path& VideoShardReader::file() const { return impl_->file; }
int64_t VideoShardReader::size() const { return impl_->n; }
bool VideoShardReader::latent() const { return impl_->latent; }
std::array<int64_t, 4> VideoShardReader::Shape(int64_t i) const { return impl_->shapes.at(i); }
bool VideoShardReader::has_labels() const { return !impl_->labels.empty(); }

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
  const auto& shape = s.shapes[i];
  sample.video = torch::empty({shape[0], shape[1], shape[2], shape[3]}, torch::kFloat);

  std::lock_guard lock(Hdf5Mutex());
  std::string path = fmt::format("/videos/{}", i);
  Hid ds = s.OpenDataset(path);
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
              sample.video.data_ptr<float>()) < 0)
    s.Bad(path, "cannot read: " + Hdf5ErrorText());
  if (!with_text_embeddings) return sample;
  for (const auto& [name, t] : s.text) {
    auto read_row = [&](const std::string& dataset, int rank, hid_t memory_type, void* out) {
      Hid d = s.OpenDataset(dataset);
      Hid space(H5Dget_space(d.get()), H5Sclose);
      hsize_t start[3] = {static_cast<hsize_t>(i), 0, 0};
      hsize_t count[3] = {1, static_cast<hsize_t>(t.length), static_cast<hsize_t>(t.dim)};
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
      Hid memory(H5Screate_simple(rank, count, nullptr), H5Sclose);
      if (H5Dread(d.get(), memory_type, memory.get(), space.get(), H5P_DEFAULT, out) < 0)
        s.Bad(dataset, fmt::format("cannot read sample {}: {}", i, Hdf5ErrorText()));
    };
    TextEncoding encoding;
    encoding.embedding = torch::empty({1, t.length, t.dim}, torch::kFloat);
    read_row("/text/" + name + "/embedding", 3, H5T_NATIVE_FLOAT,
             encoding.embedding.data_ptr<float>());
    if (t.has_mask) {
      if (t.mask_is_enum) {
        // An 8-bit enum (h5py's bool): read its raw bytes with the file's own type.
        at::Tensor raw = torch::empty({1, t.length}, torch::kByte);
        Hid d = s.OpenDataset("/text/" + name + "/mask");
        Hid ftype(H5Dget_type(d.get()), H5Tclose);
        Hid native(H5Tget_native_type(ftype.get(), H5T_DIR_ASCEND), H5Tclose);
        read_row("/text/" + name + "/mask", 2, native.get(), raw.data_ptr<uint8_t>());
        encoding.mask = raw.ne(0);
      } else {
        at::Tensor raw = torch::empty({1, t.length}, torch::kLong);
        read_row("/text/" + name + "/mask", 2, H5T_NATIVE_INT64, raw.data_ptr<int64_t>());
        encoding.mask = raw.ne(0);
      }
    } else {
      encoding.mask = torch::ones({1, t.length}, torch::kBool);
    }
    sample.text_embeddings.emplace(name, std::move(encoding));
  }
  return sample;
}

// ------------------------------------------------------------------------------------------------

std::vector<fs::path> ResolveShardPaths(const std::vector<std::string>& entries) {
  std::vector<fs::path> out;
  for (const std::string& entry : entries) {
    std::error_code ec;
    if (entry.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      int rc = ::glob(entry.c_str(), 0, nullptr, &g);
      std::vector<fs::path> matches;
      if (rc == 0) {
        for (size_t k = 0; k < g.gl_pathc; ++k) {
          if (fs::is_regular_file(g.gl_pathv[k], ec)) matches.emplace_back(g.gl_pathv[k]);
        }
      }
      globfree(&g);
      if (matches.empty()) throw InputError(fmt::format("no shard file matches '{}'", entry));
      std::sort(matches.begin(), matches.end());
      out.insert(out.end(), matches.begin(), matches.end());
    } else if (fs::is_directory(entry, ec)) {
      std::vector<fs::path> files;
      for (const auto& f : fs::directory_iterator(entry)) {
        if (f.is_regular_file() && f.path().extension() == ".h5") files.push_back(f.path());
      }
      if (files.empty())
        throw InputError(fmt::format("folder '{}' holds no .h5 shard files", entry));
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(entry, ec)) {
      out.emplace_back(entry);
    } else {
      throw InputError(fmt::format("shard path '{}' does not exist", entry));
    }
  }
  return out;
}

}  // namespace modelgrow
