// An HDF5 object header, read as the file format specification lays it out, for what HDF5 1.10
// cannot be trusted to read safely: the variable-length strings its attributes name.
#pragma once

#include <cstdint>
#include <string>

#include "hdf5_heap_check.h"

namespace modelgrow::hdf5 {

// Why the attributes in the object header at `address` cannot be read safely, or "": an
// attribute message whose name, datatype and dataspace overrun it, one whose data is shorter than
// its type and dataspace say (HDF5 copies what they say), a string type whose descriptors are not
// 16 bytes, or a string attribute whose descriptors `check` refuses (HDF5 would index a
// collection's object table with them unchecked; all found by fuzz_hdf5_shard). Walks version 1 and
// 2 headers and their continuation blocks; what it does not understand (shared datatypes, dense
// attribute storage) it leaves to HDF5.
std::string AttributesProblem(StringDescriptorCheck& check, uint64_t address);

}  // namespace modelgrow::hdf5
