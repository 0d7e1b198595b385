#pragma once
// Private to lib/eval: an owning hid_t and HDF5 error text, for the embedding file and the
// archive field copy. (lib/data keeps its own HDF5 layer private; lib/eval reads and writes
// other files and does not reach into it.) HDF5 is not thread-safe: lib/eval calls it from
// the calling thread only, never while a lib/data reader thread could be running.
#include <hdf5.h>

#include <string>
#include <utility>

namespace skyssl::eval::detail {

class h5id {
 public:
  h5id() = default;
  explicit h5id(hid_t id) : id_(id) {}
  ~h5id() { reset(); }
  h5id(h5id&& o) noexcept : id_(std::exchange(o.id_, -1)) {}
  h5id& operator=(h5id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
    }
    return *this;
  }
  h5id(const h5id&) = delete;
  h5id& operator=(const h5id&) = delete;
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, -1); }
  void reset();

 private:
  hid_t id_ = -1;
};

// Turns off HDF5's own error printing (idempotent); the innermost messages of its error stack.
void h5_quiet();
std::string h5_error();
// Throws data_error(what + ": " + HDF5's reason) when id < 0.
hid_t h5_check(hid_t id, const std::string& what);
void h5_status(herr_t status, const std::string& what);

}  // namespace skyssl::eval::detail
