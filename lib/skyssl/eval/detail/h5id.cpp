#include "skyssl/eval/detail/h5id.hpp"

#include "skyssl/core/error.hpp"

namespace skyssl::eval::detail {

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
