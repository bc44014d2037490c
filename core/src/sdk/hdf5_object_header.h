// An HDF5 object header, read as the file format specification lays it out, for what HDF5 1.10
// cannot be trusted to read safely: datatypes, attribute messages and the variable-length strings
// attributes name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hdf5_heap_check.h"

namespace modelgrow::hdf5 {

// The widths of a file's addresses and lengths, as its superblock states them (8 and 8 in every
// file h5py or this toolkit writes).
struct Widths {
  unsigned offsets = 8, lengths = 8;
};

// Why the object header at `address` cannot be read safely, or "": a block of its messages that
// lies beyond the file's end (HDF5 allocates a continuation block's stated size before reading it:
// a 20 KB shard stating 4 GB; found by fuzz_hdf5_shard), a datatype (of the object or of an
// attribute) whose description overruns its message (HDF5 decodes names and member types bounded
// by nothing else), an attribute message whose name, datatype and dataspace overrun it, one whose
// data is shorter than its type and dataspace say (HDF5 copies what they say), a filter pipeline or
// fill value that overruns its message (HDF5 decodes them by the counts and sizes they state), a
// number type whose bits lie outside its bytes (HDF5 converts by them), a string type whose
// descriptors are not a length, an address and an index, or a string attribute whose descriptors
// `check` refuses (HDF5 would index a collection's object table with them unchecked; all found by
// fuzz_hdf5_shard; descriptors are checked in files with 8-byte addresses). Walks version 1 and 2
// headers and their continuation blocks; what it does not understand (shared datatypes, dense
// attribute storage) it leaves to HDF5. Addresses are the file's own: `check` adds its base.
std::string ObjectHeaderProblem(StringDescriptorCheck& check, uint64_t address, Widths widths);

// What the walk needs from a file's superblock, which HDF5 looks for at byte 0, 512, 1024, 2048...
struct Superblock {
  uint64_t base = 0;  // where the file's addresses count from: the superblock's own offset
  Widths widths;
  uint64_t root = 0;  // the root group's object header
};
// The superblock of the file `check` reads (with no base set), or nullopt where it has none this
// reads (versions 0 to 3): HDF5 then says why it cannot open the file.
std::optional<Superblock> ReadSuperblock(StringDescriptorCheck& check);

}  // namespace modelgrow::hdf5
