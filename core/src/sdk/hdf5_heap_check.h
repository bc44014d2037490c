// A file driver for reading HDF5 files from anywhere: HDF5's own sec2 driver, with every global
// heap collection (where variable-length strings live) checked before HDF5 parses it.
//
// HDF5 1.10 (Debian 12) parses a collection by walking its objects, each one's size saying where
// the next begins; a corrupt free-space object of size 0 makes that walk loop forever (found by
// fuzz_hdf5_shard: `modelgrow dataset info` on such a shard never returned). The driver refuses
// such a collection with an error naming its byte offset, and HDF5 reports a failed read instead.
#pragma once

#include <hdf5.h>

namespace modelgrow::hdf5 {

// A file access property list for H5Fopen (read-only files): the checking driver where this HDF5
// has the driver interface it is written for (1.10 to 1.12), else H5P_DEFAULT. Made once, kept
// for the process; call it under the HDF5 lock.
hid_t HeapCheckingFileAccess();

}  // namespace modelgrow::hdf5
