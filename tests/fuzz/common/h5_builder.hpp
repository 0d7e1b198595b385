#pragma once
// A structure-aware HDF5 generator for the archive and embedding-file harnesses: the fuzzer's
// bytes choose dims (0, 1, small, 2^31-1, 2^31, 2^40, 2^62, ...), dtypes (float16/32/64 either
// byte order, integers, strings), layouts (contiguous, chunked with any chunk shape, deflate,
// compact), how much is written (nothing: a sparse file; part; all), attributes of every kind,
// soft and external links, external raw storage and virtual datasets. Raw-byte fuzzing of HDF5
// would mostly find bugs inside libhdf5 itself; this reaches our readers with valid files whose
// contents lie.
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace skyssl::fuzz {

class h5_builder {
 public:
  h5_builder(FuzzedDataProvider& in, const std::filesystem::path& path);
  ~h5_builder();  // closes the file
  hid_t file() const { return file_; }

  // One dimension from the interesting set, or a small random one.
  hsize_t dim();
  // A dataset `name` under `loc` of the given dims and a chosen dtype (or `type` when >= 0),
  // layout and written extent. False when HDF5 refuses the combination (that is fine).
  bool dataset(hid_t loc, const char* name, std::vector<hsize_t> dims, hid_t type = -1);
  // An attribute `name` on `loc`: a string, an array of strings, a double, an int64, or empty.
  void attribute(hid_t loc, const char* name);
  // Links and foreign storage: a soft link, an external link (to `other` or a missing file), a
  // dataset whose raw data is in `other`, a virtual dataset mapping `other`'s `name`.
  void foreign(hid_t loc, const char* name, const std::filesystem::path& other);

 private:
  hid_t type();
  FuzzedDataProvider& in_;
  hid_t file_ = -1;
};

// After each input nothing of HDF5 may stay open: a leaked file or object id keeps the file open
// (the next H5Fcreate of the same path then fails quietly) and crashed HDF5's atexit cleanup
// after a 10-minute run. `who`: the generator or the reader under test.
inline void expect_no_open_h5(const char* who) {
  const ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n > 0) {
    std::fprintf(stderr,
                 "finding: %s left %zd HDF5 ids open (files %zd, datasets %zd, groups %zd, "
                 "attributes %zd)\n",
                 who, n, H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE),
                 H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET),
                 H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_GROUP),
                 H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ATTR));
    std::abort();
  }
}

}  // namespace skyssl::fuzz
