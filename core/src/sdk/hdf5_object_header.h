// An HDF5 object header, read as the file format specification lays it out, for what HDF5 1.10
// cannot be trusted to read safely: datatypes, attribute messages and the variable-length strings
// attributes name.
#pragma once

#include <cstdint>
#include <string>

#include "hdf5_heap_check.h"

namespace modelgrow::hdf5 {

// Why the object header at `address` cannot be read safely, or "": a datatype (of the object or
// of an attribute) whose description overruns its message (HDF5 decodes names and member types
// bounded by nothing else), an attribute message whose name, datatype and dataspace overrun it,
// one whose data is shorter than its type and dataspace say (HDF5 copies what they say), a string
// type whose descriptors are not 16 bytes, or a string attribute whose descriptors `check` refuses
// (HDF5 would index a collection's object table with them unchecked; all found by
// fuzz_hdf5_shard). Walks version 1 and 2 headers and their continuation blocks; what it does not
// understand (shared datatypes, dense attribute storage) it leaves to HDF5.
std::string ObjectHeaderProblem(StringDescriptorCheck& check, uint64_t address);

}  // namespace modelgrow::hdf5
