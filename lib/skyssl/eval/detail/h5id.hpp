#pragma once
// Private to lib/eval: HDF5 handles and error text for the embedding file and the archive
// field copy. The owning handle and the error-stack walk are lib/data's (detail/h5.hpp, shared
// by the libraries, never by apps); lib/eval's checks throw data_error, since these files are
// outputs and inputs of eval, not archives. HDF5 is not thread-safe: lib/eval calls it from the
// calling thread only, never while a lib/data reader thread could be running.
#include <string>

#include "skyssl/data/detail/h5.hpp"

namespace skyssl::eval::detail {

using h5id = data::h5::handle;

// Turns off HDF5's own error printing (idempotent); the innermost messages of its error stack.
inline void h5_quiet() { data::h5::quiet(); }
inline std::string h5_error() { return data::h5::last_error(); }
// Throws data_error(what + ": " + HDF5's reason) when id < 0.
hid_t h5_check(hid_t id, const std::string& what);
void h5_status(herr_t status, const std::string& what);

}  // namespace skyssl::eval::detail
