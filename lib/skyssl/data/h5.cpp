#include "skyssl/data/h5.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "skyssl/core/error.hpp"

namespace skyssl::data::h5 {

std::recursive_mutex& mutex() {
  static std::recursive_mutex m;
  return m;
}

void handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = -1;
}

void quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string last_error() {
  std::string out;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    auto* s = static_cast<std::string*>(data);
    // The innermost two frames say what failed; deeper frames repeat it in library terms.
    if (n < 2 && e->desc && *e->desc) {
      if (!s->empty()) *s += "; ";
      *s += e->desc;
    }
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &out);
  H5Eclear2(H5E_DEFAULT);
  return out;
}

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) {
    const auto detail = last_error();
    throw archive_error(detail.empty() ? what : what + " (HDF5: " + detail + ")");
  }
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) check(-1, what);
}

hid_t check_file(hid_t id, const std::string& what) {
  if (id < 0) {
    const auto why = last_error();
    throw data_error(why.empty() ? what : what + ": " + why);
  }
  return id;
}

void check_file_status(herr_t status, const std::string& what) {
  if (status < 0) check_file(-1, what);
}

bool read_string_attr(hid_t obj, const char* name, std::vector<std::string>& out) {
  if (H5Aexists(obj, name) <= 0) return false;
  handle attr(H5Aopen(obj, name, H5P_DEFAULT));
  if (!attr) return false;
  handle type(H5Aget_type(attr.get()));
  if (H5Tget_class(type.get()) != H5T_STRING) return false;
  handle space(H5Aget_space(attr.get()));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  out.clear();
  if (n <= 0) return true;
  const bool vlen = H5Tis_variable_str(type.get()) > 0;
  handle mem(H5Tcopy(H5T_C_S1));
  H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
  if (vlen) {
    H5Tset_size(mem.get(), H5T_VARIABLE);
    std::vector<char*> buf(static_cast<std::size_t>(n), nullptr);
    if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) return false;
    for (auto* p : buf) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, buf.data());
  } else {
    // One byte more than the file's strings: a null-padded string of exactly its stored size
    // converted to a null-terminated type of the same size loses its last character.
    const std::size_t len = H5Tget_size(type.get()) + 1;
    H5Tset_size(mem.get(), len);
    H5Tset_strpad(mem.get(), H5T_STR_NULLTERM);
    std::vector<char> buf(len * static_cast<std::size_t>(n), '\0');
    if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) return false;
    for (hssize_t i = 0; i < n; ++i) {
      const char* p = buf.data() + static_cast<std::size_t>(i) * len;
      std::size_t l = 0;
      while (l < len && p[l] != '\0') ++l;
      out.emplace_back(p, l);
    }
  }
  return true;
}

bool read_double_attr(hid_t obj, const char* name, double& out) {
  if (H5Aexists(obj, name) <= 0) return false;
  handle attr(H5Aopen(obj, name, H5P_DEFAULT));
  if (!attr) return false;
  handle type(H5Aget_type(attr.get()));
  const auto cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) return false;
  handle space(H5Aget_space(attr.get()));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return false;
  return H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &out) >= 0;
}

void write_string_attr(hid_t obj, const char* name, const std::vector<std::string>& values) {
  // Variable-length UTF-8 strings: what h5py writes for a list of str, and reads back as str.
  handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const hsize_t n = values.size();
  handle space(H5Screate_simple(1, &n, nullptr));
  handle attr(check(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    fmt::format("cannot create attribute '{}'", name)));
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  check_status(H5Awrite(attr.get(), type.get(), ptrs.data()),
               fmt::format("cannot write attribute '{}'", name));
}

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  handle space(H5Screate(H5S_SCALAR));
  handle attr(check(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    fmt::format("cannot create attribute '{}'", name)));
  const char* p = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &p),
               fmt::format("cannot write attribute '{}'", name));
}

void write_double_attr(hid_t obj, const char* name, double value) {
  handle space(H5Screate(H5S_SCALAR));
  handle attr(check(H5Acreate2(obj, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    fmt::format("cannot create attribute '{}'", name)));
  check_status(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value),
               fmt::format("cannot write attribute '{}'", name));
}

std::string type_name(hid_t type) {
  const auto size = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return fmt::format("float{}", size);
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", size);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return fmt::format("enum{}", size);
    default:
      return "unsupported type";
  }
}

}  // namespace skyssl::data::h5
