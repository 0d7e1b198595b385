#include "skyssl/eval/detail/h5id.hpp"

#include "skyssl/core/error.hpp"

namespace skyssl::eval::detail {

void h5id::reset() {
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

void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string h5_error() {
  std::string out;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    auto* s = static_cast<std::string*>(data);
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

hid_t h5_check(hid_t id, const std::string& what) {
  if (id < 0) {
    const auto why = h5_error();
    throw data_error(why.empty() ? what : what + ": " + why);
  }
  return id;
}

void h5_status(herr_t status, const std::string& what) {
  if (status < 0) {
    const auto why = h5_error();
    throw data_error(why.empty() ? what : what + ": " + why);
  }
}

}  // namespace skyssl::eval::detail
