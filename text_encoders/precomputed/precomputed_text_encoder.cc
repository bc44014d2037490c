// The `precomputed` text encoder: embeddings and masks that users made with their own Python
// stack, read from HDF5 by prompt hash (SHA-256 of the UTF-8 prompt) or by sample index. The
// schema is in docs/text-encoders.md.
#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <hdf5.h>

#include "modelgrow/base/options.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/hf_folder.h"
#include "modelgrow/text/prompt_hash.h"

namespace modelgrow {
namespace {

// Keeps HDF5 from printing its error stack; our own messages say what went wrong.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  ~Handle() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

class PrecomputedTextEncoder : public TextEncoder, public SampleIndexedTextEncoder {
 public:
  explicit PrecomputedTextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    std::filesystem::path path = o.RequireString("path");
    key_mode_ = o.Choice("key", "prompt_hash", {"prompt_hash", "index"});
    name_ = o.String("name", "precomputed");
    if (name_.empty() || name_.find('/') != std::string::npos) {
      o.Fail("name", "must be a plain name (it names the file inside a folder `path`)");
    }
    if (o.HasProblems()) {
      o.RejectUnknownKeys();
      o.ThrowIfProblems();
    }
    if (context.validate_only) return;  // options checked; load nothing
    file_ = std::filesystem::is_directory(path) ? path / (name_ + ".h5") : path;
    Open();
    key_ = fmt::format("precomputed-{}-{}", name_,
                       Sha256Hex(key_mode_ + "|" + FileFingerprint(file_)).substr(0, 16));
  }

  int64_t dim() const override { return dim_; }
  int64_t max_length() const override { return length_; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::vector<int64_t> rows;
    std::vector<std::string> missing;
    for (const std::string& prompt : prompts) {
      std::string hash = PromptHash(prompt);
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

  Handle OpenDataset(const char* name, bool required) const {
    if (H5Lexists(h5_.get(), name, H5P_DEFAULT) <= 0) {
      if (required) Fail(fmt::format("has no dataset '{}' (see docs/text-encoders.md)", name));
      return {};
    }
    Handle d(H5Dopen2(h5_.get(), name, H5P_DEFAULT), H5Dclose);
    if (!d.valid()) Fail(fmt::format("cannot open dataset '{}'", name));
    return d;
  }

  std::vector<hsize_t> Dims(const Handle& dataset) const {
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(std::max(rank, 0));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return dims;
  }

  std::vector<std::string> ReadStrings(const Handle& dataset, const char* name) const {
    std::vector<hsize_t> dims = Dims(dataset);
    if (dims.size() != 1) Fail(fmt::format("dataset '{}' must be one-dimensional", name));
    Handle type(H5Dget_type(dataset.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING) {
      Fail(fmt::format("dataset '{}' must hold strings", name));
    }
    size_t n = dims[0];
    std::vector<std::string> out(n);
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      std::vector<char*> buffer(n, nullptr);
      if (H5Dread(dataset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0) {
        Fail(fmt::format("cannot read dataset '{}'", name));
      }
      for (size_t i = 0; i < n; ++i) out[i] = buffer[i] ? buffer[i] : "";
      Handle space(H5Dget_space(dataset.get()), H5Sclose);
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space.get(), H5P_DEFAULT, buffer.data());
#else
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, buffer.data());
#endif
    } else {
      size_t width = H5Tget_size(type.get());
      std::vector<char> buffer(n * width);
      if (H5Dread(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0) {
        Fail(fmt::format("cannot read dataset '{}'", name));
      }
      for (size_t i = 0; i < n; ++i) {
        std::string s(buffer.data() + i * width, width);
        s.erase(s.find_last_not_of('\0') + 1);
        out[i] = s;
      }
    }
    return out;
  }

  void Open() {
    QuietHdf5 quiet;
    if (!std::filesystem::is_regular_file(file_)) {
      throw InputError(
          fmt::format("precomputed embeddings file {} does not exist", file_.string()));
    }
    h5_ = Handle(H5Fopen(file_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!h5_.valid()) Fail("is not an HDF5 file");
    embeddings_ = OpenDataset("embeddings", true);
    masks_ = OpenDataset("masks", true);
    std::vector<hsize_t> e = Dims(embeddings_), m = Dims(masks_);
    if (e.size() != 3) Fail("dataset 'embeddings' must be [N, L, D]");
    Handle etype(H5Dget_type(embeddings_.get()), H5Tclose);
    if (H5Tget_class(etype.get()) != H5T_FLOAT) {
      Fail("dataset 'embeddings' must hold floats (float32 or float16)");
    }
    rows_ = static_cast<int64_t>(e[0]);
    length_ = static_cast<int64_t>(e[1]);
    dim_ = static_cast<int64_t>(e[2]);
    if (m.size() != 2 || m[0] != e[0] || m[1] != e[1]) {
      Fail(fmt::format("dataset 'masks' must be [N, L] = [{}, {}] to match 'embeddings'", e[0],
                       e[1]));
    }
    Handle mtype(H5Dget_type(masks_.get()), H5Tclose);
    H5T_class_t mclass = H5Tget_class(mtype.get());
    if (mclass != H5T_INTEGER && mclass != H5T_ENUM) {
      Fail("dataset 'masks' must hold integers (uint8 0/1) or booleans");
    }
    // h5py writes numpy booleans as an 8-bit enum; read those with their own type.
    mask_mem_type_ = mclass == H5T_ENUM
                         ? Handle(H5Tget_native_type(mtype.get(), H5T_DIR_ASCEND), H5Tclose)
                         : Handle(H5Tcopy(H5T_NATIVE_UINT8), H5Tclose);
    if (H5Tget_size(mask_mem_type_.get()) != 1) Fail("dataset 'masks' must have 1-byte values");

    Handle hashes = OpenDataset("prompt_sha256", key_mode_ == "prompt_hash");
    Handle prompts = OpenDataset("prompts", false);
    if (hashes.valid()) {
      std::vector<std::string> list = ReadStrings(hashes, "prompt_sha256");
      if (static_cast<int64_t>(list.size()) != rows_) {
        Fail(fmt::format("dataset 'prompt_sha256' has {} entries for {} rows", list.size(), rows_));
      }
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
      if (static_cast<int64_t>(list.size()) != rows_) {
        Fail(fmt::format("dataset 'prompts' has {} entries for {} rows", list.size(), rows_));
      }
      for (size_t i = 0; i < list.size(); ++i) {
        rows_by_hash_.emplace(PromptHash(list[i]), static_cast<int64_t>(i));
      }
    }
  }

  TextEncoding ReadRows(const std::vector<int64_t>& rows) {
    std::lock_guard<std::mutex> lock(mutex_);  // the HDF5 library is not thread-safe
    QuietHdf5 quiet;
    const int64_t n = static_cast<int64_t>(rows.size());
    TextEncoding out;
    out.embedding = at::empty({n, length_, dim_}, at::kFloat);
    at::Tensor mask = at::empty({n, length_}, at::kByte);
    Handle efile_space(H5Dget_space(embeddings_.get()), H5Sclose);
    Handle mfile_space(H5Dget_space(masks_.get()), H5Sclose);
    hsize_t ecount[3] = {1, static_cast<hsize_t>(length_), static_cast<hsize_t>(dim_)};
    hsize_t mcount[2] = {1, static_cast<hsize_t>(length_)};
    Handle emem(H5Screate_simple(3, ecount, nullptr), H5Sclose);
    Handle mmem(H5Screate_simple(2, mcount, nullptr), H5Sclose);
    for (int64_t i = 0; i < n; ++i) {
      hsize_t estart[3] = {static_cast<hsize_t>(rows[i]), 0, 0};
      hsize_t mstart[2] = {static_cast<hsize_t>(rows[i]), 0};
      H5Sselect_hyperslab(efile_space.get(), H5S_SELECT_SET, estart, nullptr, ecount, nullptr);
      H5Sselect_hyperslab(mfile_space.get(), H5S_SELECT_SET, mstart, nullptr, mcount, nullptr);
      if (H5Dread(embeddings_.get(), H5T_NATIVE_FLOAT, emem.get(), efile_space.get(), H5P_DEFAULT,
                  out.embedding[i].data_ptr()) < 0 ||
          H5Dread(masks_.get(), mask_mem_type_.get(), mmem.get(), mfile_space.get(), H5P_DEFAULT,
                  mask[i].data_ptr()) < 0) {
        Fail(fmt::format("cannot read row {}", rows[i]));
      }
    }
    out.mask = mask.to(at::kBool);
    return out;
  }

  std::filesystem::path file_;
  std::string key_mode_, name_, key_;
  Handle h5_, embeddings_, masks_, mask_mem_type_;
  int64_t rows_ = 0, length_ = 0, dim_ = 0;
  std::unordered_map<std::string, int64_t> rows_by_hash_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::PrecomputedTextEncoder, "precomputed", "1.0.0",
                       "embeddings and masks precomputed elsewhere, read from HDF5 by prompt "
                       "SHA-256 or sample index");
