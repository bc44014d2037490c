#include "modelgrow/sdk/hdf5.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5.h>

#include "hdf5_heap_check.h"
#include "hdf5_object_header.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"
#include "modelgrow/sdk/utf8.h"

namespace modelgrow::hdf5 {

static_assert(sizeof(hid_t) == sizeof(int64_t), "HDF5 identifiers are held as int64_t");

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The lock every HDF5 call of the process is made under. Recursive, because closing an
// identifier takes it too and identifiers are closed inside locked sections.
class Locked {
 public:
  Locked() : lock_(Mutex()) {
    // HDF5's exit handler closes every identifier still open. After a write failed (a full
    // disk), a file's identifier can be left half-closed, and that handler then crashes the
    // process (SIGSEGV) after the error was reported. Every file we write is flushed and closed
    // explicitly, and a file left open at exit is a temporary one being thrown away, so the
    // handler has nothing to do for us. It must be declined before the library starts.
    static const bool no_exit_handler = [] { return H5dont_atexit() >= 0; }();
    (void)no_exit_handler;
    // Off once per thread: the setting is global in a build without thread safety (Debian's) and
    // per thread in one with it.
    thread_local bool quiet = false;
    if (!quiet) {
      H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
      quiet = true;
    }
  }

 private:
  static std::recursive_mutex& Mutex() {
    static std::recursive_mutex mutex;
    return mutex;
  }
  std::unique_lock<std::recursive_mutex> lock_;
};

// HDF5 describes a failed system call as "file write failed: time = ..., filename = ..., file
// descriptor = 3, errno = 28, error message = 'No space left on device', buf = ..."; only its
// first words and the system's message mean anything to a user.
std::string SystemErrorText(const std::string& desc) {
  const std::string key = "error message = '";
  const size_t at = desc.find(key),
               end = at == std::string::npos ? at : desc.find('\'', at + key.size());
  if (end == std::string::npos) return desc;
  const std::string system = desc.substr(at + key.size(), end - at - key.size());
  const size_t head = desc.find(": time =");
  return head == std::string::npos ? system : desc.substr(0, head) + " (" + system + ")";
}

// The most specific messages on HDF5's error stack ("truncated file: eof = ..."), read while the
// lock that covered the failed call is still held.
std::string ErrorText() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* out = static_cast<std::vector<std::string>*>(data);
        if (e->desc && *e->desc) out->push_back(SystemErrorText(e->desc));
        return 0;
      },
      &messages);
  if (messages.empty()) return "unknown HDF5 error";
  std::string text = messages.back();
  if (messages.size() > 1 && messages.front() != text) text = messages.front() + ": " + text;
  return text;
}

std::string Where(const fs::path& file, const char* kind, const std::string& path) {
  if (std::strcmp(kind, "file") == 0) return file.string();
  return fmt::format("{}: {} '{}'", file.string(), kind, path);
}

[[noreturn]] void Throw(bool writing, const std::string& message) {
  if (writing) throw RunError(message);
  throw InputError(message);
}

// `what` about the object, with HDF5's own explanation of the call that just failed.
[[noreturn]] void ThrowHdf5(bool writing, const fs::path& file, const char* kind,
                            const std::string& path, const std::string& what) {
  Throw(writing, fmt::format("{}: {}: {}", Where(file, kind, path), what, ErrorText()));
}

using internal::Id;

hid_t MemoryType(Type type) {
  switch (type) {
    case Type::kFloat32:
      return H5T_NATIVE_FLOAT;
    case Type::kFloat64:
      return H5T_NATIVE_DOUBLE;
    case Type::kInt64:
      return H5T_NATIVE_INT64;
    case Type::kUint8:
      return H5T_NATIVE_UINT8;
  }
  return H5T_NATIVE_FLOAT;
}

hid_t FileType(Type type) {
  switch (type) {
    case Type::kFloat32:
      return H5T_IEEE_F32LE;
    case Type::kFloat64:
      return H5T_IEEE_F64LE;
    case Type::kInt64:
      return H5T_STD_I64LE;
    case Type::kUint8:
      return H5T_STD_U8LE;
  }
  return H5T_IEEE_F32LE;
}

// Stores integer `value` as element `i` of a buffer of `type`.
void StoreInteger(Type type, void* out, size_t i, int64_t value) {
  switch (type) {
    case Type::kFloat32:
      static_cast<float*>(out)[i] = static_cast<float>(value);
      break;
    case Type::kFloat64:
      static_cast<double*>(out)[i] = static_cast<double>(value);
      break;
    case Type::kInt64:
      static_cast<int64_t*>(out)[i] = value;
      break;
    case Type::kUint8:
      static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(std::clamp<int64_t>(value, 0, 255));
      break;
  }
}

Id VariableStringType(H5T_cset_t cset = H5T_CSET_UTF8) {
  Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), cset);
  return type;
}

int64_t Product(const std::vector<int64_t>& dims, size_t from = 0) {
  int64_t n = 1;
  for (size_t k = from; k < dims.size(); ++k) n *= dims[k];
  return n;
}

std::vector<int64_t> SpaceDims(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(std::max(rank, 0));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

// Reads the selection `file_space` of an enum dataset (h5py's bool is an 8-bit enum) as the
// integers its values are, converted to `type`. HDF5 itself converts enums only to enums.
bool ReadEnum(hid_t dataset, hid_t memory_space, hid_t file_space, size_t count, Type type,
              void* out) {
  Id file_type(H5Dget_type(dataset));
  Id native(H5Tget_native_type(file_type.get(), H5T_DIR_ASCEND));
  Id base(H5Tget_super(native.get()));
  if (!native.valid() || !base.valid()) return false;
  const size_t size = H5Tget_size(native.get());
  const bool is_signed = H5Tget_sign(base.get()) == H5T_SGN_2;
  if (size != 1 && size != 2 && size != 4 && size != 8) return false;
  std::vector<unsigned char> raw(count * size);
  if (count > 0 &&
      H5Dread(dataset, native.get(), memory_space, file_space, H5P_DEFAULT, raw.data()) < 0)
    return false;
  for (size_t i = 0; i < count; ++i) {
    const unsigned char* p = raw.data() + i * size;
    int64_t v = 0;
    switch (size) {
      case 1:
        v = is_signed ? int64_t{*reinterpret_cast<const int8_t*>(p)} : int64_t{*p};
        break;
      case 2: {
        int16_t s;
        uint16_t u;
        std::memcpy(&s, p, 2);
        std::memcpy(&u, p, 2);
        v = is_signed ? int64_t{s} : int64_t{u};
        break;
      }
      case 4: {
        int32_t s;
        uint32_t u;
        std::memcpy(&s, p, 4);
        std::memcpy(&u, p, 4);
        v = is_signed ? int64_t{s} : int64_t{u};
        break;
      }
      default:
        std::memcpy(&v, p, 8);
    }
    StoreInteger(type, out, i, v);
  }
  return true;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Identifiers

namespace internal {

Id& Id::operator=(Id&& other) noexcept {
  if (this != &other) {
    Reset();
    value_ = other.value_;
    other.value_ = -1;
  }
  return *this;
}

void Id::Reset() {
  if (value_ < 0) return;
  Locked lock;
  // Any kind of identifier (file, group, dataset, dataspace, type, property list) closes when its
  // last reference goes.
  H5Idec_ref(value_);
  value_ = -1;
}

}  // namespace internal

// ------------------------------------------------------------------------------------------------
// Objects and their attributes

void Object::Fail(const std::string& message) const {
  throw InputError(fmt::format("{}: {}", Where(file_, kind_, path_), message));
}

namespace {

// How the file holding `object` lays out addresses: their widths, and where they count from (the
// size of a user block before the superblock); nullopt when HDF5 does not say.
struct Addressing {
  Widths widths;
  uint64_t base = 0;
};
std::optional<Addressing> FileAddressing(hid_t object) {
  Id file(H5Iget_file_id(object));
  if (!file.valid()) return std::nullopt;
  Id fcpl(H5Fget_create_plist(file.get()));
  size_t offsets = 0, lengths = 0;
  hsize_t base = 0;
  if (!fcpl.valid() || H5Pget_sizes(fcpl.get(), &offsets, &lengths) < 0 ||
      H5Pget_userblock(fcpl.get(), &base) < 0)
    return std::nullopt;
  return Addressing{{static_cast<unsigned>(offsets), static_cast<unsigned>(lengths)}, base};
}

// Why HDF5 1.10 cannot safely decode the header of the object at `path` below `location`
// (ObjectHeaderProblem says what is checked), or "". Its basic information is read without
// decoding any message. Files open for writing are not checked: what HDF5 holds in its cache
// may not be on disk yet.
std::string UnsafeHeader(hid_t location, const char* path, const fs::path& file) {
#if H5_VERSION_LE(1, 11, 99)
  Id file_id(H5Iget_file_id(location));
  unsigned intent = 0;
  if (!file_id.valid() || H5Fget_intent(file_id.get(), &intent) < 0 || intent != H5F_ACC_RDONLY)
    return "";
  // A link's target is found without loading its header (H5Oget_info would load it, and HDF5
  // allocates what the header states while loading it); "." is an object already open.
  haddr_t address = HADDR_UNDEF;
  if (std::strcmp(path, ".") == 0) {
    H5O_info_t info;
    if (H5Oget_info_by_name2(location, path, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return "";
    address = info.addr;
  } else {
    H5L_info_t link;
    if (H5Lget_info(location, path, &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD)
      return "";  // a soft or external link: HDF5 resolves it, and says when it cannot
    address = link.u.address;
  }
  std::set<uint64_t>* walked = WalkedHeaders(file_id.get());
  if (walked != nullptr && walked->count(address)) return "";
  const std::optional<Addressing> addressing = FileAddressing(location);
  if (!addressing) return "";
  StringDescriptorCheck check(file);
  check.set_base(addressing->base);
  std::string problem = ObjectHeaderProblem(check, address, addressing->widths);
  if (problem.empty() && walked != nullptr) walked->insert(address);
  return problem;
#else
  (void)location, (void)path, (void)file;
  return "";
#endif
}

// Why HDF5 1.10 cannot safely open `file`, whose root group's object header it loads while
// opening it (ObjectHeaderProblem says what is checked), or "".
std::string UnsafeRootHeader(const fs::path& file) {
#if H5_VERSION_LE(1, 11, 99)
  StringDescriptorCheck check(file);
  if (!check.valid()) return "";
  std::optional<Superblock> superblock = ReadSuperblock(check);
  if (!superblock) return "";
  check.set_base(superblock->base);
  return ObjectHeaderProblem(check, superblock->root, superblock->widths);
#else
  (void)file;
  return "";
#endif
}

// Calls `visit` with each ever longer prefix of `path` ("a", "a/b", "a/b/c"; "/a"... for an
// absolute one), and whether it is the whole path, until it returns false; returns whether every
// call returned true.
bool EachPrefix(const std::string& path,
                const std::function<bool(const std::string&, bool last)>& visit) {
  std::string prefix;
  size_t start = 0;
  if (!path.empty() && path[0] == '/') {
    prefix = "/";
    start = 1;
  }
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) {
      prefix += path.substr(start, end - start);
      if (!visit(prefix, path.find_first_not_of('/', end) == std::string::npos)) return false;
      prefix += "/";
    }
    start = end + 1;
  }
  return true;
}

// Why the variable-length strings of `type` cannot be read safely, or "": HDF5 1.10 allocates a
// string's stated length times the size of its characters, which it takes from the file unchecked
// (a 20 KB shard whose characters were 1 GB each asked for 21 GB, one of 80 MB characters for
// 2.1 GB; found by fuzz_hdf5_shard). Every writer stores 1-byte characters.
std::string CharacterSizeProblem(hid_t type) {
  Id base(H5Tget_super(type));
  if (!base.valid()) return "";  // a library that does not expose it: left to HDF5
  const size_t size = H5Tget_size(base.get());
  return size == 1 ? "" : fmt::format("its characters are {} bytes each (expected 1)", size);
}

// Reads one scalar attribute that holds a string, an integer or a float: null for any other kind.
// When it cannot be read, calls `failed` with the reason (or "" where HDF5 failed and its error
// stack says why), which throws: at once, because closing this function's identifiers clears
// HDF5's error stack, and with it HDF5's reason.
json ReadScalarAttribute(hid_t attribute, const std::function<void(const std::string&)>& failed) {
  Id type(H5Aget_type(attribute));
  Id space(H5Aget_space(attribute));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return json();  // arrays are not ours
  H5T_class_t c = H5Tget_class(type.get());
  if (c == H5T_STRING) {
    if (H5Tis_variable_str(type.get()) > 0) {
      if (std::string problem = CharacterSizeProblem(type.get()); !problem.empty()) failed(problem);
      Id memory = VariableStringType(H5Tget_cset(type.get()));
      char* p = nullptr;
      if (H5Aread(attribute, memory.get(), &p) < 0) failed("");
      if (p == nullptr) return json();
      std::string text(p);
      H5free_memory(p);
      return text;
    }
    size_t length = H5Tget_size(type.get());
    std::vector<char> buffer(length + 1, '\0');
    Id memory(H5Tcopy(H5T_C_S1));
    H5Tset_size(memory.get(), length);
    if (H5Aread(attribute, memory.get(), buffer.data()) < 0) failed("");
    return std::string(buffer.data(), strnlen(buffer.data(), length));
  }
  if (c == H5T_INTEGER) {
    int64_t v = 0;
    if (H5Aread(attribute, H5T_NATIVE_INT64, &v) < 0) failed("");
    return v;
  } else if (c == H5T_FLOAT) {
    double v = 0;
    if (H5Aread(attribute, H5T_NATIVE_DOUBLE, &v) < 0) failed("");
    return v;
  }
  return json();
}

}  // namespace

json Object::Attributes() const {
  Locked lock;
  Id object(H5Oopen(id_.get(), ".", H5P_DEFAULT));
  if (!object.valid()) ThrowHdf5(false, file_, kind_, path_, "cannot open");
  std::vector<std::string> names;
  hsize_t position = 0;
  if (H5Aiterate2(
          object.get(), H5_INDEX_NAME, H5_ITER_INC, &position,
          [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
            static_cast<std::vector<std::string>*>(data)->push_back(name);
            return 0;
          },
          &names) < 0)
    ThrowHdf5(false, file_, kind_, path_, "cannot list attributes");
  json out = json::object();
  for (const std::string& name : names) ReadAttribute(object.get(), name, out);
  return out;
}

void Object::ReadAttribute(int64_t object, const std::string& name, json& out) const {
  Id attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attribute.valid())
    ThrowHdf5(false, file_, kind_, path_, fmt::format("cannot read attribute '{}'", name));
  json value = ReadScalarAttribute(attribute.get(), [&](const std::string& problem) {
    if (!problem.empty()) Fail(fmt::format("attribute '{}': {}", name, problem));
    ThrowHdf5(false, file_, kind_, path_, fmt::format("cannot read attribute '{}'", name));
  });
  // Strings from a file end up in JSON (dataset info, reports), whose writer throws on anything
  // but UTF-8, so they are checked where they are read (found by fuzz_hdf5_shard).
  if (value.is_string() &&
      FindInvalidUtf8(value.get_ref<const std::string&>()) != std::string::npos)
    Fail(fmt::format("attribute '{}' is not valid UTF-8", name));
  if (!value.is_null()) out[name] = std::move(value);
}

json Object::Attributes(std::initializer_list<std::string_view> names) const {
  Locked lock;
  Id object(H5Oopen(id_.get(), ".", H5P_DEFAULT));
  if (!object.valid()) ThrowHdf5(false, file_, kind_, path_, "cannot open");
  // HDF5 1.10 decodes datatypes and a string attribute's descriptor unchecked: checked first.
  if (std::string problem = UnsafeHeader(object.get(), ".", file_); !problem.empty()) Fail(problem);
  json out = json::object();
  for (std::string_view view : names) {
    const std::string name(view);
    // Looked up by name, which walks the object's messages without the table enumeration builds.
    htri_t exists = H5Aexists(object.get(), name.c_str());
    if (exists < 0)
      ThrowHdf5(false, file_, kind_, path_, fmt::format("cannot read attribute '{}'", name));
    if (exists > 0) ReadAttribute(object.get(), name, out);
  }
  return out;
}

namespace {

// Creates (or replaces) scalar attribute `name` of `type` on the object `id` and writes `data`.
void WriteAttribute(hid_t id, const fs::path& file, const char* kind, const std::string& path,
                    const std::string& name, hid_t file_type, hid_t memory_type, const void* data) {
  Locked lock;
  Id object(H5Oopen(id, ".", H5P_DEFAULT));
  if (!object.valid()) ThrowHdf5(true, file, kind, path, "cannot open");
  if (H5Aexists(object.get(), name.c_str()) > 0 && H5Adelete(object.get(), name.c_str()) < 0)
    ThrowHdf5(true, file, kind, path, fmt::format("cannot replace attribute '{}'", name));
  Id space(H5Screate(H5S_SCALAR));
  Id attribute(
      H5Acreate2(object.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute.valid() || H5Awrite(attribute.get(), memory_type, data) < 0)
    ThrowHdf5(true, file, kind, path, fmt::format("cannot write attribute '{}'", name));
}

}  // namespace

void Object::SetAttribute(const std::string& name, std::string_view value) const {
  Locked lock;
  std::string text(value);
  const char* p = text.c_str();
  Id type = VariableStringType();
  WriteAttribute(id_.get(), file_, kind_, path_, name, type.get(), type.get(), &p);
}

void Object::SetAttribute(const std::string& name, int64_t value) const {
  WriteAttribute(id_.get(), file_, kind_, path_, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

// ------------------------------------------------------------------------------------------------
// Groups

namespace {

// How an object below `group` is named in messages: as given when absolute or below the root.
std::string Below(const std::string& group, const std::string& path) {
  if (path.empty() || path == ".") return group;
  if (path[0] == '/' || group == "/") return path;
  return group + "/" + path;
}

// A link-creation property list that creates the missing groups of a path.
Id IntermediateGroups() {
  Id list(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(list.get(), 1);
  return list;
}

}  // namespace

bool Group::Exists(const std::string& path) const { return FindChecked(path, "object"); }

bool Group::FindChecked(const std::string& path, const char* kind) const {
  Locked lock;
  if (path.empty() || path == "." || path == "/") return true;
  // Looking up "a/b" loads a's header, and opening it loads b's: each is checked first, in that
  // order.
  return EachPrefix(path, [&](const std::string& prefix, bool last) {
    if (H5Lexists(id_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    std::string problem = UnsafeHeader(id_.get(), prefix.c_str(), file_);
    if (!problem.empty()) {
      Throw(false, fmt::format("{}: {}", Where(file_, last ? kind : "group", Below(path_, prefix)),
                               problem));
    }
    return true;
  });
}

std::vector<std::string> Group::Children(const std::string& path) const {
  Group group = OpenGroup(path);
  Locked lock;
  H5G_info_t info;
  if (H5Gget_info(group.id_.get(), &info) < 0)
    ThrowHdf5(false, file_, "group", group.path_, "cannot list");
  std::vector<std::string> names;
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    ssize_t size = H5Lget_name_by_idx(group.id_.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr,
                                      0, H5P_DEFAULT);
    if (size < 0) ThrowHdf5(false, file_, "group", group.path_, "cannot list");
    std::string name(size, '\0');
    H5Lget_name_by_idx(group.id_.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), size + 1,
                       H5P_DEFAULT);
    // Names end up in JSON (dataset info, reports), which only holds UTF-8 (a caption kind named
    // "d\x9b\x8b..." made `dataset info --json` throw; found by fuzz_hdf5_shard).
    if (FindInvalidUtf8(name) != std::string::npos) {
      Throw(false, fmt::format("{}: member {} has a name that is not valid UTF-8",
                               Where(file_, "group", group.path_), k));
    }
    names.push_back(std::move(name));
  }
  return names;
}

Group Group::OpenGroup(const std::string& path) const {
  std::string shown = Below(path_, path);
  Locked lock;
  if (!FindChecked(path, "group"))
    Throw(false, fmt::format("{}: missing", Where(file_, "group", shown)));
  Id id(H5Gopen2(id_.get(), path.c_str(), H5P_DEFAULT));
  if (!id.valid()) ThrowHdf5(false, file_, "group", shown, "not a group");
  return Group(std::move(id), file_, shown);
}

Dataset Group::OpenDataset(const std::string& path) const {
  std::string shown = Below(path_, path);
  Locked lock;
  // Opening a dataset decodes its datatype, which HDF5 1.10 does unchecked: checked first.
  if (!FindChecked(path, "dataset"))
    Throw(false, fmt::format("{}: missing", Where(file_, "dataset", shown)));
  Id id(H5Dopen2(id_.get(), path.c_str(), H5P_DEFAULT));
  if (!id.valid()) ThrowHdf5(false, file_, "dataset", shown, "not a dataset");
  return Dataset(std::move(id), file_, shown);
}

Dataset Group::CreateDataset(const std::string& path, Type type, const std::vector<int64_t>& dims,
                             const Layout& layout) const {
  std::string shown = Below(path_, path);
  const int rank = static_cast<int>(dims.size());
  if (!layout.chunk.empty() && layout.chunk.size() != dims.size())
    throw RunError(fmt::format("{}: a chunk of rank {} for a dataset of rank {}",
                               Where(file_, "dataset", shown), layout.chunk.size(), rank));
  if ((layout.gzip > 0 || layout.growable) && layout.chunk.empty())
    throw RunError(fmt::format("{}: compression and growing need a chunk shape",
                               Where(file_, "dataset", shown)));
  std::vector<hsize_t> extent(dims.begin(), dims.end());
  std::vector<hsize_t> max = extent;
  if (layout.growable && rank > 0) max[0] = H5S_UNLIMITED;
  Locked lock;
  Id space(H5Screate_simple(rank, extent.data(), max.data()));
  Id create(H5Pcreate(H5P_DATASET_CREATE));
  if (!layout.chunk.empty()) {
    std::vector<hsize_t> chunk;
    for (int64_t c : layout.chunk) chunk.push_back(static_cast<hsize_t>(std::max<int64_t>(c, 1)));
    H5Pset_chunk(create.get(), rank, chunk.data());
    if (layout.gzip > 0) {
      H5Pset_shuffle(create.get());
      H5Pset_deflate(create.get(), static_cast<unsigned>(layout.gzip));
    }
  }
  Id links = IntermediateGroups();
  Id id(H5Dcreate2(id_.get(), path.c_str(), FileType(type), space.get(), links.get(), create.get(),
                   H5P_DEFAULT));
  if (!id.valid()) ThrowHdf5(true, file_, "dataset", shown, "cannot create");
  return Dataset(std::move(id), file_, shown);
}

Dataset Group::WriteStrings(const std::string& path, const std::vector<std::string>& values) const {
  std::string shown = Below(path_, path);
  Locked lock;
  Id type = VariableStringType();
  hsize_t dims[1] = {values.size()};
  Id space(H5Screate_simple(1, dims, nullptr));
  Id links = IntermediateGroups();
  Id id(H5Dcreate2(id_.get(), path.c_str(), type.get(), space.get(), links.get(), H5P_DEFAULT,
                   H5P_DEFAULT));
  if (!id.valid()) ThrowHdf5(true, file_, "dataset", shown, "cannot create");
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  if (!values.empty() &&
      H5Dwrite(id.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
    ThrowHdf5(true, file_, "dataset", shown, "cannot write");
  return Dataset(std::move(id), file_, shown);
}

// ------------------------------------------------------------------------------------------------
// Files

File File::Open(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw InputError(fmt::format("{}: file does not exist", file.string()));
  Locked lock;
  if (std::string problem = UnsafeRootHeader(file); !problem.empty()) {
    throw InputError(fmt::format(
        "{}: cannot open as HDF5: the root group's object header cannot be read safely: {}",
        file.string(), problem));
  }
  Id id(H5Fopen(file.c_str(), H5F_ACC_RDONLY, HeapCheckingFileAccess()));
  if (!id.valid())
    ThrowHdf5(false, file, "file", "/",
              "cannot open as HDF5 (truncated, damaged or not an HDF5 file)");
  return File(std::move(id), file);
}

File File::Create(const fs::path& file) {
  Locked lock;
  Id id(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!id.valid()) ThrowHdf5(true, file, "file", "/", "cannot create an HDF5 file");
  return File(std::move(id), file);
}

void File::Flush() const {
  Locked lock;
  if (H5Fflush(id_.get(), H5F_SCOPE_GLOBAL) < 0)
    ThrowHdf5(true, file_, "file", "/", "cannot flush");
}

void File::Close() {
  if (!id_.valid()) return;
  Locked lock;
  if (H5Fclose(id_.Release()) < 0) ThrowHdf5(true, file_, "file", "/", "cannot close");
}

// ------------------------------------------------------------------------------------------------
// Datasets

std::vector<int64_t> Dataset::dims() const {
  Locked lock;
  Id space(H5Dget_space(id_.get()));
  if (!space.valid()) ThrowHdf5(false, file_, kind_, path_, "cannot read its shape");
  return SpaceDims(space.get());
}

Class Dataset::type_class() const {
  Locked lock;
  Id type(H5Dget_type(id_.get()));
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER:
      return Class::kInteger;
    case H5T_FLOAT:
      return Class::kFloat;
    case H5T_STRING:
      return Class::kString;
    case H5T_ENUM:
      return Class::kEnum;
    default:
      return Class::kOther;
  }
}

size_t Dataset::element_size() const {
  Locked lock;
  Id type(H5Dget_type(id_.get()));
  return H5Tget_size(type.get());
}

bool Dataset::variable_length_strings() const {
  Locked lock;
  Id type(H5Dget_type(id_.get()));
  return H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) > 0;
}

namespace {

// Why a dataset of numbers cannot be read safely, or "": HDF5 1.10 allocates buffers by the
// sizes the file states (of one number, of the contiguous data) before finding them wrong (a
// 20 KB shard whose numbers were 4 GB each took 4.3 GB; found by fuzz_hdf5_shard).
std::string StorageProblem(hid_t dataset, const fs::path& file) {
  // A number HDF5 converts is one element of the file's type: a type of 4 GB is a 4 GB buffer.
  Id file_type(H5Dget_type(dataset));
  const size_t element = H5Tget_size(file_type.get());
  if (element == 0 || element > 16)
    return fmt::format("its numbers are {} bytes each (at most 16 are read)", element);
  Id dcpl(H5Dget_create_plist(dataset));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_COMPACT) {
    // HDF5 copies the values the dataspace states from the header, whatever it holds.
    Id space(H5Dget_space(dataset));
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    const hsize_t stored = H5Dget_storage_size(dataset);
    if (count < 0 || stored / element < static_cast<hsize_t>(count))
      return fmt::format("its {} values of {} bytes are stored compact in {} bytes", count, element,
                         stored);
    return "";
  }
  if (layout != H5D_CONTIGUOUS) return "";
  const haddr_t offset = H5Dget_offset(dataset);
  if (offset == HADDR_UNDEF) return "";  // never written: HDF5 gives the fill value
  std::error_code ec;
  const uintmax_t file_size = fs::file_size(file, ec);
  const hsize_t size = H5Dget_storage_size(dataset);
  if (ec || (offset <= file_size && size <= file_size - offset)) return "";
  return fmt::format("its data ({} bytes at byte {}) lie beyond the file's end ({} bytes)", size,
                     offset, file_size);
}

}  // namespace

void Dataset::Read(Type type, void* out, size_t size) const {
  Locked lock;
  std::vector<int64_t> shape = dims();
  if (static_cast<int64_t>(size) != Product(shape))
    throw RunError(fmt::format("{}: a buffer of {} values for shape [{}]",
                               Where(file_, kind_, path_), size, fmt::join(shape, ", ")));
  if (size == 0) return;
  Class c = type_class();
  if (c == Class::kString || c == Class::kOther) Fail("expected numbers");
  if (std::string problem = StorageProblem(id_.get(), file_); !problem.empty()) Fail(problem);
  bool ok = c == Class::kEnum
                ? ReadEnum(id_.get(), H5S_ALL, H5S_ALL, size, type, out)
                : H5Dread(id_.get(), MemoryType(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  if (!ok) ThrowHdf5(false, file_, kind_, path_, "cannot read");
}

void Dataset::ReadRows(int64_t first, int64_t count, Type type, void* out, size_t size) const {
  Locked lock;
  std::vector<int64_t> shape = dims();
  if (shape.empty()) Fail("expected an array, found a scalar");
  if (first < 0 || count < 0 || first + count > shape[0])
    throw InputError(fmt::format("{}: rows [{}, {}) outside its {} rows",
                                 Where(file_, kind_, path_), first, first + count, shape[0]));
  const int64_t row = Product(shape, 1);
  if (static_cast<int64_t>(size) != count * row)
    throw RunError(fmt::format("{}: a buffer of {} values for {} rows of {}",
                               Where(file_, kind_, path_), size, count, row));
  if (size == 0) return;
  Class c = type_class();
  if (c == Class::kString || c == Class::kOther) Fail("expected numbers");
  if (std::string problem = StorageProblem(id_.get(), file_); !problem.empty()) Fail(problem);
  Id file_space(H5Dget_space(id_.get()));
  std::vector<hsize_t> start(shape.size(), 0), extent(shape.begin(), shape.end());
  start[0] = static_cast<hsize_t>(first);
  extent[0] = static_cast<hsize_t>(count);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(),
                      nullptr);
  Id memory_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  bool ok = c == Class::kEnum
                ? ReadEnum(id_.get(), memory_space.get(), file_space.get(), size, type, out)
                : H5Dread(id_.get(), MemoryType(type), memory_space.get(), file_space.get(),
                          H5P_DEFAULT, out) >= 0;
  if (!ok)
    ThrowHdf5(false, file_, kind_, path_,
              fmt::format("cannot read rows [{}, {})", first, first + count));
}

namespace {

// Why the stored descriptors of a dataset's variable-length strings cannot be right, or ""
// (StringDescriptorCheck says what is checked, and why; found by fuzz_hdf5_shard). Checked where
// descriptors can be read as stored: contiguous datasets (what this toolkit and h5py write by
// default) and chunked ones without filters; compressed chunks, and files with addresses of
// another size than 8 (so descriptors of another size), are left to HDF5. What is checked is
// what HDF5 reads: the `count` descriptors the dataspace states, whatever size the layout states
// for its storage (a contiguous layout stating 49 bytes for 3 strings left the descriptors
// unchecked, and HDF5 indexed a heap's objects with one of them; fuzz_hdf5_shard's fifth start).
std::string StringStorageProblem(hid_t dataset, const fs::path& file, hsize_t count) {
  StringDescriptorCheck check(file);
  const std::optional<Addressing> addressing = FileAddressing(dataset);
  if (!check.valid() || !addressing || addressing->widths.offsets != 8) return "";
  // Descriptors name collections by the file's addresses, counted from its base. HDF5 gives a
  // contiguous dataset's offset from the file's start, a chunk's by the file's addresses.
  check.set_base(addressing->base);
  std::vector<std::pair<haddr_t, hsize_t>> extents;  // where descriptors are, and how many bytes
  auto too_small = [&](hsize_t stored, hsize_t needed, std::string_view what) {
    return fmt::format("its {} strings' descriptors need {} bytes{} but its storage states {}",
                       count, needed, what, stored);
  };
  Id dcpl(H5Dget_create_plist(dataset));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  // Compact storage keeps the descriptors in the object header, where they cannot be read to be
  // checked, and HDF5 copies what the dataspace states from it whatever it holds (a compact
  // layout of 0 bytes for 3 strings: memcpy from a null pointer; found by fuzz_hdf5_shard). No
  // writer stores strings so; they are refused.
  if (layout == H5D_COMPACT)
    return "its strings are stored compact (in its header), which is not read: expected "
           "contiguous or chunked storage";
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t offset = H5Dget_offset(dataset);
    if (offset == HADDR_UNDEF || offset < addressing->base) return "";  // nothing written yet
    const hsize_t stored = H5Dget_storage_size(dataset), needed = count * kStringDescriptorSize;
    if (stored < needed) return too_small(stored, needed, "");
    extents.emplace_back(offset - addressing->base, needed);
  } else if (layout == H5D_CHUNKED && H5Pget_nfilters(dcpl.get()) == 0) {
    hsize_t chunk_rows = 0;
    if (H5Pget_chunk(dcpl.get(), 1, &chunk_rows) != 1 || chunk_rows == 0) return "";
    Id space(H5Dget_space(dataset));
    hsize_t chunks = 0;
    if (H5Dget_num_chunks(dataset, space.get(), &chunks) < 0) return "";
    for (hsize_t i = 0; i < chunks; ++i) {
      hsize_t coordinates[H5S_MAX_RANK] = {};
      unsigned filter_mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t size = 0;
      if (H5Dget_chunk_info(dataset, space.get(), i, coordinates, &filter_mask, &address, &size) <
              0 ||
          address == HADDR_UNDEF)
        return "";
      if (coordinates[0] >= count) continue;  // a chunk beyond the dataspace is never read
      // Only the strings of the dataspace are converted; the rest of the last chunk is not.
      const hsize_t needed = std::min(chunk_rows, count - coordinates[0]) * kStringDescriptorSize;
      if (size < needed)
        return too_small(size, needed, fmt::format(" in the chunk at row {}", coordinates[0]));
      extents.emplace_back(address, needed);
    }
  }
  std::vector<unsigned char> bytes;
  for (const auto& [address, size] : extents) {
    if (!check.Read(address, size, bytes)) {
      return fmt::format("its strings' descriptors ({} bytes at byte {}) lie beyond the file's end",
                         size, address);
    }
    for (size_t at = 0; at + kStringDescriptorSize <= bytes.size(); at += kStringDescriptorSize) {
      std::string problem = check.Problem(bytes.data() + at, at / kStringDescriptorSize);
      if (!problem.empty()) return problem;
    }
  }
  return "";
}

}  // namespace

std::vector<std::string> Dataset::ReadStrings() const {
  Locked lock;
  Id file_type(H5Dget_type(id_.get()));
  if (H5Tget_class(file_type.get()) != H5T_STRING) Fail("expected strings");
  std::vector<int64_t> shape = dims();
  if (shape.size() != 1)
    Fail(fmt::format("expected a 1-D array of strings, found shape [{}]", fmt::join(shape, ", ")));
  // Bounded before the buffers below are sized by it: a dataspace may claim far more strings
  // than the file holds.
  if (shape[0] > limits::kMaxCount)
    Fail(fmt::format("{} strings, above the limit of {}", shape[0], limits::kMaxCount));
  const size_t n = static_cast<size_t>(shape[0]);
  std::vector<std::string> out(n);
  if (n == 0) return out;
  if (H5Tis_variable_str(file_type.get()) > 0) {
    std::string problem = CharacterSizeProblem(file_type.get());
    if (problem.empty()) problem = StringStorageProblem(id_.get(), file_, n);
    if (!problem.empty()) Fail(problem);
    Id memory = VariableStringType(H5Tget_cset(file_type.get()));
    std::vector<char*> buffer(n, nullptr);
    if (H5Dread(id_.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      ThrowHdf5(false, file_, kind_, path_, "cannot read");
    for (size_t i = 0; i < n; ++i) out[i] = buffer[i] ? buffer[i] : "";
    Id space(H5Dget_space(id_.get()));
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(memory.get(), space.get(), H5P_DEFAULT, buffer.data());
#else
    H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, buffer.data());
#endif
  } else {
    const size_t width = H5Tget_size(file_type.get());
    if (!limits::CheckedProduct({static_cast<int64_t>(width), shape[0]}))
      Fail(fmt::format("{} strings of {} bytes, above the limit of {} bytes", n, width,
                       limits::kMaxElements));
    Id memory(H5Tcopy(H5T_C_S1));
    H5Tset_size(memory.get(), width);
    H5Tset_strpad(memory.get(), H5Tget_strpad(file_type.get()));
    H5Tset_cset(memory.get(), H5Tget_cset(file_type.get()));
    std::vector<char> buffer(width * n);
    if (H5Dread(id_.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      ThrowHdf5(false, file_, kind_, path_, "cannot read");
    for (size_t i = 0; i < n; ++i) {
      const char* p = buffer.data() + i * width;
      std::string s(p, strnlen(p, width));
      // Space padding (Fortran style) is padding too.
      if (H5Tget_strpad(file_type.get()) == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
      out[i] = std::move(s);
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (FindInvalidUtf8(out[i]) != std::string::npos)
      Fail(fmt::format("string {} is not valid UTF-8", i));
  return out;
}

void Dataset::Write(Type type, const void* values, size_t size) const {
  Locked lock;
  std::vector<int64_t> shape = dims();
  if (static_cast<int64_t>(size) != Product(shape))
    throw RunError(fmt::format("{}: {} values for shape [{}]", Where(file_, kind_, path_), size,
                               fmt::join(shape, ", ")));
  if (size == 0) return;
  if (H5Dwrite(id_.get(), MemoryType(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
    ThrowHdf5(true, file_, kind_, path_, "cannot write");
}

void Dataset::AppendRows(int64_t count, Type type, const void* values, size_t size) const {
  Locked lock;
  std::vector<int64_t> shape = dims();
  if (shape.empty())
    throw RunError(fmt::format("{}: a scalar has no rows", Where(file_, kind_, path_)));
  const int64_t row = Product(shape, 1);
  if (count < 0 || static_cast<int64_t>(size) != count * row)
    throw RunError(fmt::format("{}: {} values for {} rows of {}", Where(file_, kind_, path_), size,
                               count, row));
  if (count == 0) return;
  std::vector<hsize_t> extent(shape.begin(), shape.end());
  const hsize_t first = extent[0];
  extent[0] += static_cast<hsize_t>(count);
  if (H5Dset_extent(id_.get(), extent.data()) < 0)
    ThrowHdf5(true, file_, kind_, path_, "cannot grow");
  Id file_space(H5Dget_space(id_.get()));
  std::vector<hsize_t> start(extent.size(), 0), block(extent.begin(), extent.end());
  start[0] = first;
  block[0] = static_cast<hsize_t>(count);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(),
                      nullptr);
  Id memory_space(H5Screate_simple(static_cast<int>(block.size()), block.data(), nullptr));
  if (H5Dwrite(id_.get(), MemoryType(type), memory_space.get(), file_space.get(), H5P_DEFAULT,
               values) < 0)
    ThrowHdf5(true, file_, kind_, path_, "cannot write");
}

}  // namespace modelgrow::hdf5
