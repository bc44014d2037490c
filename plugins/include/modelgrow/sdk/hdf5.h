// The one HDF5 layer of the toolkit and its plugins: files, groups, datasets and attributes as
// owning handles, and the few operations the video shards and the precomputed text embeddings
// need. Nothing else in the process calls the HDF5 library.
//
// One lock: a libhdf5 built without its thread-safe option (many builds are; which one a machine
// has is chosen by its packager, not by us) must never be entered by two threads at the same
// time -- whatever file each one works on -- and a thread-safe build serializes every call on one
// global mutex anyway, so one lock costs nothing there. Every function here, the handles'
// destructors included, holds one process-wide lock while it calls HDF5, so callers on any number
// of threads need no locking of their own. HDF5's own
// printing of its error stack is switched off once for the whole process; a failure becomes an
// InputError (reading) or a RunError (creating, writing) naming the file, the object inside it and
// HDF5's own explanation ("truncated file: eof = ...").
//
//   hdf5::File f = hdf5::File::Open("embeddings.h5");
//   hdf5::Dataset e = f.OpenDataset("embeddings");
//   std::vector<int64_t> dims = e.dims();                 // [N, L, D]
//   std::vector<float> row(dims[1] * dims[2]);
//   e.ReadRows(7, 1, std::span<float>(row));              // row 7, converted to float32
//
// Handles are cheap to move and are closed when destroyed; an object stays usable while its
// file's handle lives or while any handle inside the file does (HDF5 closes the file last).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow::hdf5 {

// How the values of a dataset are stored, as HDF5 classes them.
enum class Class { kInteger, kFloat, kString, kEnum, kOther };

// Number types: native byte order in memory; little-endian IEEE / two's complement when created
// in a file.
enum class Type { kFloat32, kFloat64, kInt64, kUint8 };

// How a new dataset is laid out.
struct Layout {
  std::vector<int64_t> chunk;  // chunk shape (one entry per dimension); empty: contiguous
  int gzip = 0;                // deflate level 1-9, with byte shuffling (needs `chunk`); 0: none
  bool growable = false;       // the first dimension is unlimited (needs `chunk`): see AppendRows
};

class Group;
class Dataset;

namespace internal {

// Owns one HDF5 identifier (a hid_t) and closes it under the lock.
class Id {
 public:
  Id() = default;
  explicit Id(int64_t value) : value_(value) {}
  Id(Id&& other) noexcept : value_(other.value_) { other.value_ = -1; }
  Id& operator=(Id&& other) noexcept;
  ~Id() { Reset(); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;

  int64_t get() const { return value_; }
  bool valid() const { return value_ >= 0; }
  void Reset();
  // Gives up ownership: the caller closes the identifier.
  int64_t Release() {
    int64_t value = value_;
    value_ = -1;
    return value;
  }

 private:
  int64_t value_ = -1;
};

}  // namespace internal

// What files, groups and datasets share: where they are, and their attributes.
class Object {
 public:
  Object() = default;
  Object(Object&&) noexcept = default;
  Object& operator=(Object&&) noexcept = default;

  bool valid() const { return id_.valid(); }
  const std::filesystem::path& file() const { return file_; }
  // The path inside the file as the object was opened: "/", "/text/t5", "embeddings".
  const std::string& path() const { return path_; }

  // The object's scalar attributes that hold a string, an integer or a float, by name (others,
  // such as arrays, are left out).
  nlohmann::json Attributes() const;
  // The same, for the named attributes only; names the object lacks are left out. Readers of
  // files from elsewhere use this form: Debian's HDF5 (1.10) lists attributes through a table
  // whose cleanup reads uninitialised memory when an attribute message is corrupt, and crashes
  // (found by fuzz_hdf5_shard); this form looks each up by name, after checking the object's
  // attribute messages and string descriptors itself (docs/reliability.md).
  nlohmann::json Attributes(std::initializer_list<std::string_view> names) const;
  // Writes a scalar attribute, replacing one of that name: a variable-length UTF-8 string, or a
  // 64-bit integer. RunError when it cannot.
  void SetAttribute(const std::string& name, std::string_view value) const;
  void SetAttribute(const std::string& name, int64_t value) const;

  // Throws InputError "<file>: <kind> '<path>': <message>" (for a file, "<file>: <message>"): the
  // form every error about this object takes, for callers' own checks of what it holds.
  [[noreturn]] void Fail(const std::string& message) const;

 protected:
  Object(internal::Id id, std::filesystem::path file, std::string path, const char* kind)
      : id_(std::move(id)), file_(std::move(file)), path_(std::move(path)), kind_(kind) {}

  internal::Id id_;
  std::filesystem::path file_;
  std::string path_;
  const char* kind_ = "object";  // "file", "group", "dataset"

 private:
  // Adds attribute `name` of `object` (this object, opened) to `out`, unless it is not a scalar
  // string or number.
  void ReadAttribute(int64_t object, const std::string& name, nlohmann::json& out) const;
};

class Group : public Object {
 public:
  Group() = default;

  // Whether every component of `path` (relative to this group, or absolute) exists. In a file
  // opened for reading, each one's object header is checked before HDF5 loads it (looking up the
  // next component loads it): InputError naming it when it cannot be read safely
  // (docs/reliability.md).
  bool Exists(const std::string& path) const;
  // The names of the links in the group at `path` (default: this one), in name order.
  std::vector<std::string> Children(const std::string& path = ".") const;
  // InputError "... '<path>': missing" when there is none, or when it is not of that kind.
  Group OpenGroup(const std::string& path) const;
  Dataset OpenDataset(const std::string& path) const;

  // Creates a dataset of `type` and `dims`, and the groups on its path that do not exist yet.
  // Its values are written with Dataset::Write or AppendRows.
  Dataset CreateDataset(const std::string& path, Type type, const std::vector<int64_t>& dims,
                        const Layout& layout = {}) const;
  // Creates and writes a 1-D dataset of variable-length UTF-8 strings (what h5py writes for str).
  Dataset WriteStrings(const std::string& path, const std::vector<std::string>& values) const;

 protected:
  Group(internal::Id id, std::filesystem::path file, std::string path, const char* kind = "group")
      : Object(std::move(id), std::move(file), std::move(path), kind) {}

 private:
  // Exists, naming the last component as `kind` in its error.
  bool FindChecked(const std::string& path, const char* kind) const;
};

class File : public Group {
 public:
  File() = default;

  // Opens an existing file read-only. InputError naming the file: it does not exist, or HDF5
  // cannot read it (truncated, damaged, not HDF5), with HDF5's reason.
  static File Open(const std::filesystem::path& file);
  // Creates (truncates) a file for writing. RunError naming it when that fails.
  static File Create(const std::filesystem::path& file);

  // Writes everything buffered to the file. RunError when that fails (a full disk).
  void Flush() const;
  // Closes the file now, reporting a failure as RunError (the destructor closes silently). HDF5
  // finishes closing when the last handle of an object inside the file is gone too.
  void Close();

 private:
  File(internal::Id id, std::filesystem::path file)
      : Group(std::move(id), std::move(file), "/", "file") {}
};

class Dataset : public Object {
 public:
  Dataset() = default;

  std::vector<int64_t> dims() const;
  Class type_class() const;
  // Bytes per value as stored in the file (for strings: of a fixed-length string; for
  // variable-length ones, of the reference).
  size_t element_size() const;
  // Whether it holds strings of variable length (false for fixed-length ones and non-strings).
  bool variable_length_strings() const;

  // The whole dataset, converted to the element type of `out` (integers, floats; an enum, such as
  // h5py's bool, reads as its integer values). `out` holds exactly the dataset's number of values.
  void Read(std::span<float> out) const { Read(Type::kFloat32, out.data(), out.size()); }
  void Read(std::span<double> out) const { Read(Type::kFloat64, out.data(), out.size()); }
  void Read(std::span<int64_t> out) const { Read(Type::kInt64, out.data(), out.size()); }
  void Read(std::span<uint8_t> out) const { Read(Type::kUint8, out.data(), out.size()); }
  // Rows [first, first + count) of the first dimension, every other dimension whole; `out` holds
  // count * (the product of the other dimensions) values. Reads only those rows from the file.
  void ReadRows(int64_t first, int64_t count, std::span<float> out) const {
    ReadRows(first, count, Type::kFloat32, out.data(), out.size());
  }
  void ReadRows(int64_t first, int64_t count, std::span<double> out) const {
    ReadRows(first, count, Type::kFloat64, out.data(), out.size());
  }
  void ReadRows(int64_t first, int64_t count, std::span<int64_t> out) const {
    ReadRows(first, count, Type::kInt64, out.data(), out.size());
  }
  void ReadRows(int64_t first, int64_t count, std::span<uint8_t> out) const {
    ReadRows(first, count, Type::kUint8, out.data(), out.size());
  }
  // A 1-D dataset of strings, variable or fixed length (padding removed).
  std::vector<std::string> ReadStrings() const;

  // Writes the whole dataset; `values` holds exactly its number of values.
  void Write(std::span<const float> values) const {
    Write(Type::kFloat32, values.data(), values.size());
  }
  void Write(std::span<const double> values) const {
    Write(Type::kFloat64, values.data(), values.size());
  }
  void Write(std::span<const int64_t> values) const {
    Write(Type::kInt64, values.data(), values.size());
  }
  void Write(std::span<const uint8_t> values) const {
    Write(Type::kUint8, values.data(), values.size());
  }
  // Grows the first dimension of a `growable` dataset by `count` rows and writes them.
  void AppendRows(int64_t count, std::span<const float> values) const {
    AppendRows(count, Type::kFloat32, values.data(), values.size());
  }
  void AppendRows(int64_t count, std::span<const uint8_t> values) const {
    AppendRows(count, Type::kUint8, values.data(), values.size());
  }

 private:
  friend class Group;
  Dataset(internal::Id id, std::filesystem::path file, std::string path)
      : Object(std::move(id), std::move(file), std::move(path), "dataset") {}
  void Read(Type type, void* out, size_t size) const;
  void ReadRows(int64_t first, int64_t count, Type type, void* out, size_t size) const;
  void Write(Type type, const void* values, size_t size) const;
  void AppendRows(int64_t count, Type type, const void* values, size_t size) const;
};

}  // namespace modelgrow::hdf5
