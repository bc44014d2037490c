#include "hdf5_heap_check.h"

#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace modelgrow::hdf5 {

namespace {

// The global heap collection as the HDF5 file format specification lays it out, for files whose
// lengths are 8 bytes (every file h5py or this toolkit writes): "GCOL", version 1, 3 reserved
// bytes, the collection's size; then objects, each an index (2 bytes, 0 = free space), a
// reference count (2), 4 reserved bytes, a size (8) and its data padded to 8 bytes.
constexpr char kSignature[] = "GCOL";
constexpr size_t kHeaderSize = 16;
constexpr size_t kObjectHeaderSize = 16;

uint64_t Little(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t CollectionSize(const unsigned char* p) { return Little(p + 8, 8); }

// Why HDF5 1.10 must not parse this collection (its `size` bytes at `data`), or "" when it may.
// Walks the objects exactly as HDF5's parser does, and refuses where that parser would loop
// forever (a free-space object of size 0) or read past the collection (an object larger than
// what is left of it).
std::string CollectionProblem(const unsigned char* data, uint64_t size,
                              std::map<uint64_t, uint64_t>* objects) {
  uint64_t p = kHeaderSize;
  while (p < size) {
    if (p + kObjectHeaderSize > size) break;  // too small for an object: free space
    const uint64_t index = Little(data + p, 2), object_size = Little(data + p + 8, 8);
    if (object_size > size) {
      return fmt::format("object {} at +{} has size {}, more than the collection's {} bytes", index,
                         p, object_size, size);
    }
    const uint64_t need = index > 0 ? kObjectHeaderSize + (object_size + 7) / 8 * 8 : object_size;
    if (need == 0) return fmt::format("the free space at +{} has size 0", p);
    if (need > size - p) {
      return fmt::format("object {} at +{} needs {} bytes, {} are left", index, p, need, size - p);
    }
    if (index > 0 && objects != nullptr) (*objects)[index] = object_size;
    p += need;
  }
  return "";
}

}  // namespace

std::string GlobalHeapCollectionProblem(const unsigned char* data, uint64_t size,
                                        std::map<uint64_t, uint64_t>* objects) {
  if (size < kHeaderSize || std::memcmp(data, kSignature, 4) != 0 || data[4] != 1)
    return "not a global heap collection (no \"GCOL\" signature of version 1)";
  if (CollectionSize(data) != size) return "the collection's size is not the size given";
  return CollectionProblem(data, size, objects);
}

uint64_t GlobalHeapCollectionSize(const unsigned char* header) { return CollectionSize(header); }

StringDescriptorCheck::StringDescriptorCheck(const std::filesystem::path& file)
    : in_(file, std::ios::binary) {
  std::error_code ec;
  file_size_ = std::filesystem::file_size(file, ec);
  valid_ = !ec && in_.good();
}

bool StringDescriptorCheck::Read(uint64_t address, uint64_t size, std::vector<unsigned char>& out) {
  if (!valid_ || base_ > file_size_ || address > file_size_ - base_) return false;
  address += base_;
  if (size > file_size_ - address) return false;
  out.resize(static_cast<size_t>(size));
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(address));
  return static_cast<bool>(
      in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size)));
}

const StringDescriptorCheck::Collection& StringDescriptorCheck::At(uint64_t address) {
  auto [at, added] = collections_.try_emplace(address);
  if (!added) return at->second;
  Collection& c = at->second;
  std::vector<unsigned char> bytes;
  if (!Read(address, kHeaderSize, bytes)) {
    c.problem = "it lies beyond the file's end";
  } else {
    const uint64_t size = CollectionSize(bytes.data());
    if (size < kHeaderSize || !Read(address, size, bytes))
      c.problem = fmt::format("it states a size of {} bytes, beyond the file's end", size);
    else
      c.problem = GlobalHeapCollectionProblem(bytes.data(), size, &c.objects);
  }
  return c;
}

std::string StringDescriptorCheck::Problem(const unsigned char* d, size_t i) {
  const uint64_t length = Little(d, 4), heap = Little(d + 4, 8), index = Little(d + 12, 4);
  if (length > file_size_) {
    return fmt::format("string {} claims {} bytes, more than the whole file ({} bytes)", i, length,
                       file_size_);
  }
  // A null string names no collection. An empty one still names an object (of 0 bytes, as HDF5
  // writes it), and HDF5 reads that object whatever the length says: a descriptor of length 0
  // naming object 520 of a collection of 5 made H5HG_read index past its table (a memcpy of
  // 6 EB; found by fuzz_hdf5_shard).
  if (heap == 0) return "";
  const Collection& c = At(heap);
  if (!c.problem.empty())
    return fmt::format("string {}: the global heap collection at byte {} is corrupt ({})", i, heap,
                       c.problem);
  auto object = c.objects.find(index);
  if (object == c.objects.end()) {
    return fmt::format(
        "string {} names object {} of the global heap collection at byte {}, which has no such "
        "object",
        i, index, heap);
  }
  if (object->second != length) {
    return fmt::format("string {} claims {} bytes but its heap object holds {}", i, length,
                       object->second);
  }
  return "";
}

#if H5_VERSION_LE(1, 12, 99)

namespace {

// The driver's file: HDF5's sec2 file it reads through, and the collections already checked (by
// address and size), so that HDF5 reading the rest of a large one is not mistaken for another.
struct CheckedFile {
  H5FD_t pub;  // first: HDF5 sees a CheckedFile as an H5FD_t
  H5FD_t* inner = nullptr;
  std::map<haddr_t, uint64_t> checked;
  // Each local heap's data, by where it starts, and the heap whose it is.
  std::map<haddr_t, haddr_t> local_heap_data;
  // Object headers walked without a problem (WalkedHeaders).
  std::set<uint64_t> walked_headers;
};

// The open files, by the handle of the sec2 file each reads through (what H5Fget_vfd_handle
// gives), so that WalkedHeaders finds a file's own from its identifier. Used under the HDF5 lock.
std::map<const void*, CheckedFile*>& OpenFiles() {
  static std::map<const void*, CheckedFile*> files;
  return files;
}

const void* InnerHandle(H5FD_t* inner) {
  void* handle = nullptr;
  return H5FDget_vfd_handle(inner, H5P_DEFAULT, &handle) < 0 ? nullptr : handle;
}

CheckedFile* Of(H5FD_t* file) { return reinterpret_cast<CheckedFile*>(file); }
const CheckedFile* Of(const H5FD_t* file) { return reinterpret_cast<const CheckedFile*>(file); }

hid_t Sec2Access() {
  static const hid_t fapl = [] {
    hid_t id = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_sec2(id);
    return id;
  }();
  return fapl;
}

H5FD_t* Open(const char* name, unsigned flags, hid_t, haddr_t maxaddr) {
  H5FD_t* inner = H5FDopen(name, flags, Sec2Access(), maxaddr);
  if (inner == nullptr) return nullptr;
  auto* file = new CheckedFile();
  file->inner = inner;
  if (const void* handle = InnerHandle(inner)) OpenFiles()[handle] = file;
  return &file->pub;
}

herr_t Close(H5FD_t* file) {
  if (const void* handle = InnerHandle(Of(file)->inner)) OpenFiles().erase(handle);
  herr_t status = H5FDclose(Of(file)->inner);
  delete Of(file);
  return status;
}

int Compare(const H5FD_t* a, const H5FD_t* b) { return H5FDcmp(Of(a)->inner, Of(b)->inner); }

herr_t Query(const H5FD_t* file, unsigned long* flags) {
  if (file == nullptr) {
    *flags = 0;
    return 0;
  }
  unsigned long inner = 0;
  if (H5FDquery(Of(file)->inner, &inner) < 0) return -1;
  // Without the metadata accumulator every collection arrives as HDF5 asks for it, starting at
  // its own address, rather than merged with its neighbours or cut where the accumulator ends.
  *flags = inner & ~static_cast<unsigned long>(H5FD_FEAT_ACCUMULATE_METADATA);
  return 0;
}

haddr_t GetEoa(const H5FD_t* file, H5FD_mem_t type) {
  return H5FDget_eoa(Of(const_cast<H5FD_t*>(file))->inner, type);
}
herr_t SetEoa(H5FD_t* file, H5FD_mem_t type, haddr_t address) {
  return H5FDset_eoa(Of(file)->inner, type, address);
}
haddr_t GetEof(const H5FD_t* file, H5FD_mem_t type) {
  return H5FDget_eof(Of(const_cast<H5FD_t*>(file))->inner, type);
}
herr_t GetHandle(H5FD_t* file, hid_t fapl, void** handle) {
  return H5FDget_vfd_handle(Of(file)->inner, fapl, handle);
}

herr_t Fail(const std::string& message) {
  H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_VFL, H5E_READERROR, "%s",
           message.c_str());
  return -1;
}

// Checks the collection at `address` whose first `size` bytes HDF5 just read into `buffer`.
herr_t CheckCollection(CheckedFile& file, hid_t dxpl, haddr_t address, size_t size,
                       const unsigned char* buffer) {
  const uint64_t total = CollectionSize(buffer);
  std::vector<unsigned char> whole;
  const unsigned char* data = buffer;
  if (total > size) {
    // HDF5 read as much as a collection usually takes and reads the rest next; the check needs it
    // all now. HDF5 would allocate a size beyond the file's end before finding it there.
    const haddr_t eof = H5FDget_eof(file.inner, H5FD_MEM_GHEAP);
    if (eof == HADDR_UNDEF) return 0;
    if (address > eof || total > eof - address) {
      return Fail(
          fmt::format("corrupt global heap collection at byte {}: it states a size of {} "
                      "bytes, beyond the file's end (byte {})",
                      address, total, eof));
    }
    whole.resize(total);
    if (H5FDread(file.inner, H5FD_MEM_GHEAP, dxpl, address, total, whole.data()) < 0) return -1;
    data = whole.data();
  }
  const std::string problem = CollectionProblem(data, total, nullptr);
  if (!problem.empty()) {
    return Fail(
        fmt::format("corrupt global heap collection at byte {} (where variable-length "
                    "strings are kept): {}",
                    address, problem));
  }
  file.checked[address] = total;
  return 0;
}

// A local heap (where a group keeps its members' names): "HEAP", version 0, 3 reserved bytes, then
// its data's size, the offset of its first free block (1 for none) and its data's address; each
// free block starts with the offset of the next and its own size. HDF5 1.10 walks that list
// without looking for a loop, allocating a node per block (a block naming itself grew the reader
// to 24 GB; found by fuzz_hdf5_shard).
constexpr char kLocalHeapSignature[] = "HEAP";
constexpr size_t kLocalHeapHeaderSize = 32;
constexpr uint64_t kNoFreeBlock = 1;

// Checks the local heap whose header HDF5 just read at `address` (from the file's start).
herr_t CheckLocalHeap(CheckedFile& file, hid_t dxpl, haddr_t address, const unsigned char* header) {
  // The heap states where its data is by the file's addresses, which count from its base (after a
  // user block), as HDF5 passes them to the driver it reads through.
  const uint64_t size = Little(header + 8, 8), first_free = Little(header + 16, 8),
                 data = Little(header + 24, 8) + file.pub.base_addr;
  auto fail = [&](const std::string& problem) {
    return Fail(
        fmt::format("corrupt local heap at byte {} (where a group keeps its members' names): {}",
                    address, problem));
  };
  const haddr_t eof = H5FDget_eof(file.inner, H5FD_MEM_LHEAP);
  if (eof == HADDR_UNDEF) return 0;
  if (data > eof || size > eof - data) {
    return fail(fmt::format("its {} bytes of data at byte {} lie beyond the file's end (byte {})",
                            size, data, eof));
  }
  // HDF5 caches a heap's data by its address: a second heap naming the same data shares the first
  // one's entry, and looking a name up in it dereferenced a null pointer (SEGV in
  // H5HL_unprotect; found by fuzz_hdf5_shard).
  if (auto [owner, added] = file.local_heap_data.try_emplace(data, address);
      !added && owner->second != address) {
    return fail(fmt::format("its data at byte {} is the data of the local heap at byte {} too",
                            data, owner->second));
  }
  if (first_free != kNoFreeBlock) {
    std::vector<unsigned char> bytes(size);
    if (size > 0 && H5FDread(file.inner, H5FD_MEM_LHEAP, dxpl, data, size, bytes.data()) < 0)
      return -1;
    // Free blocks are distinct and 8-byte aligned inside the data: a longer walk is a loop.
    uint64_t steps = 0;
    for (uint64_t at = first_free; at != kNoFreeBlock; at = Little(bytes.data() + at, 8)) {
      if (at > size || size - at < 16)
        return fail(fmt::format("a free block at offset {} lies outside its {} bytes", at, size));
      if (++steps > size / 8 + 1)
        return fail(fmt::format("its list of free blocks loops (at offset {})", at));
    }
  }
  // Only a heap that passed is skipped when read again: HDF5 may read a refused one again.
  file.checked[address] = kLocalHeapHeaderSize;
  return 0;
}

bool InsideChecked(const CheckedFile& file, haddr_t address) {
  auto next = file.checked.upper_bound(address);
  if (next == file.checked.begin()) return false;
  auto at = std::prev(next);
  return address > at->first && address - at->first < at->second;
}

herr_t Read(H5FD_t* handle, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size,
            void* buffer) {
  CheckedFile& file = *Of(handle);
  if (H5FDread(file.inner, type, dxpl, address, size, buffer) < 0) return -1;
  const auto* bytes = static_cast<const unsigned char*>(buffer);
  if (size >= kLocalHeapHeaderSize && std::memcmp(bytes, kLocalHeapSignature, 4) == 0 &&
      bytes[4] == 0 && !file.checked.count(address))
    return CheckLocalHeap(file, dxpl, address, bytes);
  // HDF5 reads global heaps as raw data (H5F_block_read maps the type), so a raw read that starts
  // with a collection's signature and version is taken for one. Raw data of a dataset that
  // happens to start so and is not a valid collection would be refused: 5 given bytes, then a
  // failed check, at the start of a read (under 1 in 10^12 for random bytes).
  if ((type != H5FD_MEM_GHEAP && type != H5FD_MEM_DRAW) || size < kHeaderSize ||
      std::memcmp(bytes, kSignature, 4) != 0 || bytes[4] != 1 || file.checked.count(address) ||
      InsideChecked(file, address))
    return 0;
  return CheckCollection(file, dxpl, address, size, bytes);
}

herr_t Write(H5FD_t* file, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size,
             const void* buffer) {
  return H5FDwrite(Of(file)->inner, type, dxpl, address, size, buffer);
}
herr_t Flush(H5FD_t* file, hid_t dxpl, hbool_t closing) {
  return H5FDflush(Of(file)->inner, dxpl, closing);
}
herr_t Truncate(H5FD_t* file, hid_t dxpl, hbool_t closing) {
  return H5FDtruncate(Of(file)->inner, dxpl, closing);
}
herr_t Lock(H5FD_t* file, hbool_t rw) { return H5FDlock(Of(file)->inner, rw); }
herr_t Unlock(H5FD_t* file) { return H5FDunlock(Of(file)->inner); }

H5FD_class_t MakeClass() {
  H5FD_class_t c;
  std::memset(&c, 0, sizeof c);
  c.name = "modelgrow_heap_check";
  c.maxaddr = (static_cast<haddr_t>(1) << (8 * sizeof(off_t) - 1)) - 1;
  c.fc_degree = H5F_CLOSE_WEAK;
  c.open = Open;
  c.close = Close;
  c.cmp = Compare;
  c.query = Query;
  c.get_eoa = GetEoa;
  c.set_eoa = SetEoa;
  c.get_eof = GetEof;
  c.get_handle = GetHandle;
  c.read = Read;
  c.write = Write;
  c.flush = Flush;
  c.truncate = Truncate;
  c.lock = Lock;
  c.unlock = Unlock;
  const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
  std::memcpy(c.fl_map, map, sizeof map);
  return c;
}

}  // namespace

hid_t HeapCheckingFileAccess() {
  static const hid_t fapl = []() -> hid_t {
    static const H5FD_class_t driver_class = MakeClass();
    const hid_t driver = H5FDregister(&driver_class);
    if (driver < 0) return H5P_DEFAULT;
    const hid_t id = H5Pcreate(H5P_FILE_ACCESS);
    if (id < 0 || H5Pset_driver(id, driver, nullptr) < 0) return H5P_DEFAULT;
    return id;
  }();
  return fapl;
}

std::set<uint64_t>* WalkedHeaders(hid_t file) {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0) return nullptr;
  auto at = OpenFiles().find(handle);
  return at == OpenFiles().end() ? nullptr : &at->second->walked_headers;
}

#else

// HDF5 1.13 changed the driver interface (a version field, vector and selection I/O); with it the
// collections are not checked here.
hid_t HeapCheckingFileAccess() { return H5P_DEFAULT; }
std::set<uint64_t>* WalkedHeaders(hid_t) { return nullptr; }

#endif

}  // namespace modelgrow::hdf5
