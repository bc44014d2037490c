#include "modelgrow/sdk/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"
#include "safetensors_header.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  int64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8}, {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},   {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},   {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},  {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},    {"BOOL", c10::ScalarType::Bool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

}  // namespace

std::string SafetensorsDtypeName(c10::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return d.name;
  }
  throw InputError(fmt::format("safetensors cannot store dtype {}", c10::toString(type)));
}

struct SafetensorsFile::Mapping {
  void* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data != nullptr && data != MAP_FAILED) ::munmap(data, size);
  }
};

SafetensorsFile SafetensorsFile::Open(const fs::path& file) {
  SafetensorsFile f;
  f.path_ = file;
  auto fail = [&](const std::string& what) {
    throw InputError(fmt::format("{}: not a valid safetensors file: {}", file.string(), what));
  };
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw InputError(fmt::format("{}: is a folder, expected a safetensors file", file.string()));
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0)
    throw InputError(fmt::format("{}: cannot open ({})", file.string(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(fmt::format("{}: not a regular file", file.string()));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size >= 8) {
    mapping->data = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  if (mapping->size < 8) fail(fmt::format("{} bytes, too short for a header", mapping->size));
  if (mapping->data == MAP_FAILED) fail("cannot be mapped");
  f.mapping_ = mapping;

  safetensors::Header header =
      safetensors::ParseHeader(std::span<const unsigned char>(
                                   static_cast<const unsigned char*>(mapping->data), mapping->size),
                               file.string());
  f.metadata_ = std::move(header.metadata);
  for (auto& [key, e] : header.entries)
    f.entries_[key] = Entry{std::move(e.dtype), std::move(e.shape), e.begin, e.end};
  return f;
}

std::vector<std::string> SafetensorsFile::Keys() const {
  std::vector<std::pair<uint64_t, std::string>> by_offset;
  for (const auto& [k, e] : entries_) by_offset.emplace_back(e.begin, k);
  std::sort(by_offset.begin(), by_offset.end());
  std::vector<std::string> keys;
  for (auto& [offset, k] : by_offset) keys.push_back(k);
  return keys;
}

bool SafetensorsFile::Has(const std::string& key) const { return entries_.count(key) > 0; }

const SafetensorsFile::Entry& SafetensorsFile::Find(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw InputError(fmt::format("{}: no tensor named '{}'", path_.string(), key));
  }
  return it->second;
}

std::vector<int64_t> SafetensorsFile::Shape(const std::string& key) const {
  return Find(key).shape;
}
std::string SafetensorsFile::Dtype(const std::string& key) const { return Find(key).dtype; }

at::Tensor SafetensorsFile::Get(const std::string& key) const {
  const Entry& e = Find(key);
  const DtypeInfo* d = FindDtype(e.dtype);
  const auto* bytes = static_cast<const unsigned char*>(mapping_->data);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  const void* src = bytes + 8 + header_len + e.begin;
  at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(d->type));
  if (e.end > e.begin) std::memcpy(out.data_ptr(), src, e.end - e.begin);
  return out;
}

at::Tensor SafetensorsFile::Get(const std::string& key, c10::ScalarType dtype) const {
  return Get(key).to(dtype);
}

void WriteSafetensors(const fs::path& file, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata,
                      std::optional<c10::ScalarType> dtype) {
  std::vector<at::Tensor> stored;
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU);
    if (dtype && t.is_floating_point()) t = t.to(*dtype);
    t = t.contiguous();
    uint64_t size = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", SafetensorsDtypeName(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + size}}};
    offset += size;
    stored.push_back(t);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as HF writes it
  unsigned char len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  AtomicFileWriter writer(file);
  writer.Write(len, 8);
  writer.Write(text);
  for (const at::Tensor& t : stored) {
    writer.Write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  }
  writer.Commit();
}

TensorStore TensorStore::Open(const fs::path& folder, const std::string& base) {
  TensorStore store;
  fs::path single = folder / (base + ".safetensors");
  fs::path index = folder / (base + ".safetensors.index.json");
  std::error_code ec;
  if (fs::exists(index, ec)) {
    json j;
    try {
      j = json::parse(ReadFile(index));
    } catch (const json::exception& e) {
      throw InputError(fmt::format("{}: not valid JSON ({})", index.string(), e.what()));
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw InputError(fmt::format("{}: no 'weight_map' object", index.string()));
    }
    std::map<std::string, size_t> file_index;
    for (const auto& [key, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) {
        throw InputError(fmt::format("{}: weight_map['{}'] is {}, expected a file name",
                                     index.string(), key, shard.dump()));
      }
      std::string shard_name = shard.get<std::string>();
      // A shard is a file of this folder: an index may not send the reader elsewhere.
      const fs::path shard_relative(shard_name);
      if (shard_name.empty() || shard_relative.is_absolute() ||
          shard_relative.filename() != shard_relative || shard_name == "." || shard_name == "..") {
        throw InputError(fmt::format(
            "{}: weight_map['{}'] names '{}', which is not a file name inside the folder",
            index.string(), key, shard_name));
      }
      if (!file_index.count(shard_name)) {
        fs::path shard_path = folder / shard_name;
        if (!fs::exists(shard_path, ec)) {
          throw InputError(fmt::format("{}: lists shard '{}', which does not exist", index.string(),
                                       shard_name));
        }
        file_index[shard_name] = store.files_.size();
        store.files_.push_back(SafetensorsFile::Open(shard_path));
      }
      const SafetensorsFile& f = store.files_[file_index[shard_name]];
      if (!f.Has(key)) {
        throw InputError(fmt::format("{}: says '{}' is in {}, which has no such tensor",
                                     index.string(), key, shard_name));
      }
      store.where_[key] = file_index[shard_name];
    }
    return store;
  }
  if (!fs::exists(single, ec)) {
    throw InputError(fmt::format("{}: no {} or {} in this folder", folder.string(),
                                 single.filename().string(), index.filename().string()));
  }
  store.files_.push_back(SafetensorsFile::Open(single));
  for (const std::string& key : store.files_[0].Keys()) store.where_[key] = 0;
  return store;
}

std::vector<std::string> TensorStore::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, i] : where_) keys.push_back(k);
  return keys;
}

bool TensorStore::Has(const std::string& key) const { return where_.count(key) > 0; }

const SafetensorsFile& TensorStore::FileFor(const std::string& key) const {
  auto it = where_.find(key);
  if (it == where_.end()) throw InputError(fmt::format("no tensor named '{}'", key));
  return files_[it->second];
}

std::vector<int64_t> TensorStore::Shape(const std::string& key) const {
  return FileFor(key).Shape(key);
}
at::Tensor TensorStore::Get(const std::string& key) const { return FileFor(key).Get(key); }
at::Tensor TensorStore::Get(const std::string& key, c10::ScalarType dtype) const {
  return FileFor(key).Get(key, dtype);
}
fs::path TensorStore::FileOf(const std::string& key) const { return FileFor(key).path(); }

void WriteTensorStore(const fs::path& folder, const NamedTensors& tensors, const std::string& base,
                      int64_t max_shard_bytes, const std::map<std::string, std::string>& metadata,
                      std::optional<c10::ScalarType> dtype) {
  fs::create_directories(folder);
  std::vector<NamedTensors> shards(1);
  int64_t current = 0, total = 0;
  for (const auto& item : tensors) {
    int64_t element = (dtype && item.second.is_floating_point()) ? c10::elementSize(*dtype)
                                                                 : item.second.element_size();
    int64_t bytes = item.second.numel() * element;
    if (current > 0 && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(item);
    current += bytes;
    total += bytes;
  }
  if (shards.size() == 1) {
    WriteSafetensors(folder / (base + ".safetensors"), tensors, metadata, dtype);
    return;
  }
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = fmt::format("{}-{:05d}-of-{:05d}.safetensors", base, i + 1, shards.size());
    WriteSafetensors(folder / name, shards[i], metadata, dtype);
    for (const auto& item : shards[i]) weight_map[item.first] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  WriteFileAtomic(folder / (base + ".safetensors.index.json"), index.dump(2));
}

}  // namespace modelgrow
