#pragma once
// A float32 dataset that is created and never written, for tests of files at scales no disk
// holds: in chunks (`chunk`, one entry per dimension) its unwritten chunks cost nothing; an
// empty `chunk` makes it contiguous, and `allocate_early` then gives it its full extent in the
// file at creation (a hole on disk: an apparent size of gigabytes in a file of kilobytes).
// Returns whether HDF5 created it (REQUIRE it).
#include <hdf5.h>

#include <vector>

namespace skyssl::test {

inline bool unwritten_dataset(hid_t file, const char* name, const std::vector<hsize_t>& dims,
                              const std::vector<hsize_t>& chunk, bool allocate_early = false) {
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (!chunk.empty()) H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  if (allocate_early) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  const hid_t d = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  return d >= 0;
}

}  // namespace skyssl::test
