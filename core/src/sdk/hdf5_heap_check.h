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
#include <map>
#include <string>

namespace modelgrow::hdf5 {

// A file access property list for H5Fopen (read-only files): the checking driver where this HDF5
// has the driver interface it is written for (1.10 to 1.12), else H5P_DEFAULT. Made once, kept
// for the process; call it under the HDF5 lock.
hid_t HeapCheckingFileAccess();

// Why the global heap collection in `data` (`size` bytes, its whole size as its header states)
// cannot be parsed safely, or "". Lists its objects, index to size, in `objects` when given.
std::string GlobalHeapCollectionProblem(const unsigned char* data, uint64_t size,
                                        std::map<uint64_t, uint64_t>* objects);
// The size a collection's 16-byte header states.
uint64_t GlobalHeapCollectionSize(const unsigned char* header);

}  // namespace modelgrow::hdf5
