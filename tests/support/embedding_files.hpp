#pragma once
// Writes small embedding files in the layout skyssl-embed writes (docs/search-and-export.md)
// with the plain HDF5 C API, for the search and export tests: root attributes
// skyssl_embedding = 1, arch, source; /backbone and/or /projection (N, D) float32; 1-D id
// fields under /fields. Independent of the reader under test.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace skyssl::test {

struct embedding_file_spec {
  std::string arch = "resnet18";
  std::string source;                                                // archive path
  bool marker = true;                                                // skyssl_embedding = 1
  std::map<std::string, std::pair<int, std::vector<float>>> spaces;  // name -> (dim, rows)
  std::map<std::string, std::vector<std::int64_t>> int_fields;
  std::map<std::string, std::vector<double>> float_fields;
};

namespace detail {
inline void string_attr(hid_t obj, const char* name, const std::string& v) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, v.size() + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, v.c_str());
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}
inline void dataset(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, int rank,
                    const hsize_t* dims, const void* data) {
  hid_t sp = H5Screate_simple(rank, dims, nullptr);
  hid_t d = H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  H5Sclose(sp);
}
}  // namespace detail

inline void write_embedding_file(const std::filesystem::path& path, const embedding_file_spec& s) {
  hid_t f = H5Fcreate(path.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (s.marker) {
    const int one = 1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "skyssl_embedding", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &one);
    H5Aclose(a);
    H5Sclose(sp);
  }
  detail::string_attr(f, "arch", s.arch);
  detail::string_attr(f, "source", s.source);
  for (const auto& [name, dv] : s.spaces) {
    const hsize_t dims[2] = {dv.second.size() / static_cast<hsize_t>(dv.first),
                             static_cast<hsize_t>(dv.first)};
    detail::dataset(f, name.c_str(), H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, dv.second.data());
  }
  hid_t g = H5Gcreate2(f, "fields", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (const auto& [name, v] : s.int_fields) {
    const hsize_t n = v.size();
    detail::dataset(g, name.c_str(), H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, v.data());
  }
  for (const auto& [name, v] : s.float_fields) {
    const hsize_t n = v.size();
    detail::dataset(g, name.c_str(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, v.data());
  }
  H5Gclose(g);
  H5Fclose(f);
}

}  // namespace skyssl::test
