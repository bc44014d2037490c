// Global heap collections (where HDF5 keeps variable-length strings), checked before HDF5 1.10
// parses them: a file driver for reading HDF5 files from anywhere (HDF5's own sec2 driver, with
// every collection checked as HDF5 reads it), and the check itself, for readers of a dataset's
// string descriptors (hdf5.cc).
//
// HDF5 1.10 (Debian 12) parses a collection by walking its objects, each one's size saying where
// the next begins; a corrupt free-space object of size 0 makes that walk loop forever (found by
// fuzz_hdf5_shard: `modelgrow dataset info` on such a shard never returned). The driver refuses
// such a collection with an error naming its byte offset, and HDF5 reports a failed read instead.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace modelgrow::hdf5 {

// A file access property list for H5Fopen (read-only files): the checking driver where this HDF5
// has the driver interface it is written for (1.10 to 1.12), else H5P_DEFAULT. Made once, kept
// for the process; call it under the HDF5 lock.
hid_t HeapCheckingFileAccess();
// The addresses of the object headers already walked without a problem in `file` (an open file's
// identifier), for as long as it is open through the checking driver, so that each is walked
// once: a sample's read looks up a few paths, each component's header walked (about 30 us each,
// most of it opening the file to read it). Null for a file opened otherwise. Call it under the
// HDF5 lock.
std::set<uint64_t>* WalkedHeaders(hid_t file);

// Why the global heap collection in `data` (`size` bytes, its whole size as its header states)
// cannot be parsed safely, or "". Lists its objects, index to size, in `objects` when given.
std::string GlobalHeapCollectionProblem(const unsigned char* data, uint64_t size,
                                        std::map<uint64_t, uint64_t>* objects);
// The size a collection's 16-byte header states.
uint64_t GlobalHeapCollectionSize(const unsigned char* header);

// Where HDF5 stores a variable-length string: its length (4 bytes), then where its bytes are, a
// global heap collection's address (8) and an object index (4).
inline constexpr size_t kStringDescriptorSize = 16;

// Checks stored string descriptors against the collections they name, reading the file itself
// (HDF5 1.10 trusts them: it allocates a buffer of the stated length, then indexes the named
// collection's object table unchecked). Each collection is read and parsed once.
class StringDescriptorCheck {
 public:
  explicit StringDescriptorCheck(const std::filesystem::path& file);

  // Why descriptor `d` (of string `i`) cannot be right, or "": its length must fit in the file,
  // and a string that names a collection (every one but a null string, empty ones too) must name
  // an object that exists in it, in a well-formed collection, holding exactly that many bytes.
  std::string Problem(const unsigned char* d, size_t i);
  // Reads `size` bytes at `address` (counted from the base) into `out`; false where they are not
  // all in the file.
  bool Read(uint64_t address, uint64_t size, std::vector<unsigned char>& out);
  bool valid() const { return valid_; }
  uint64_t file_size() const { return file_size_; }
  // Where the file's addresses count from: the size of a user block before its superblock
  // (0 unless one was written).
  void set_base(uint64_t base) { base_ = base; }

 private:
  struct Collection {
    std::map<uint64_t, uint64_t> objects;  // index to size
    std::string problem;
  };
  const Collection& At(uint64_t address);

  std::ifstream in_;
  uint64_t file_size_ = 0;
  uint64_t base_ = 0;
  bool valid_ = false;
  std::map<uint64_t, Collection> collections_;
};

}  // namespace modelgrow::hdf5
