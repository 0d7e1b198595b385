#pragma once
// Thin RAII and error helpers over the HDF5 C API: the one HDF5 layer of skyssl, used by lib/data
// (archives) and lib/embed (embedding files, cutouts). HDF5 (as Debian and Cray build it) is not
// thread-safe, so every call into it from a thread that may run beside a reader holds mutex().
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace skyssl::data::h5 {

// Process-wide lock around the (non-thread-safe) HDF5 library.
std::recursive_mutex& mutex();

// Owns one hid_t and closes it with the matching H5*close.
class handle {
 public:
  handle() = default;
  explicit handle(hid_t id) : id_(id) {}
  ~handle() { reset(); }
  handle(handle&& o) noexcept : id_(std::exchange(o.id_, -1)) {}
  handle& operator=(handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
    }
    return *this;
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  void reset();
  hid_t release() { return std::exchange(id_, -1); }

 private:
  hid_t id_ = -1;
};

// Silences HDF5's automatic error printing (we report errors ourselves). Idempotent.
void quiet();
// The innermost messages of HDF5's current error stack, joined ("" if none).
std::string last_error();
// Throws archive_error(what + ": " + HDF5 detail) when id < 0; returns id otherwise.
hid_t check(hid_t id, const std::string& what);
void check_status(herr_t status, const std::string& what);
// The same, throwing data_error: for HDF5 files that are not archives (embedding files, cutouts).
hid_t check_file(hid_t id, const std::string& what);
void check_file_status(herr_t status, const std::string& what);

// Attributes on an object: a string (scalar, or an array of strings joined by ','),
// or a double. Return false when the attribute is absent or of another kind.
bool read_string_attr(hid_t obj, const char* name, std::vector<std::string>& out);
bool read_double_attr(hid_t obj, const char* name, double& out);
void write_string_attr(hid_t obj, const char* name, const std::vector<std::string>& values);
void write_string_attr(hid_t obj, const char* name, const std::string& value);
void write_double_attr(hid_t obj, const char* name, double value);

// "float32", "float16", "uint16", "int8", ... for messages and inspect.
std::string type_name(hid_t type);

}  // namespace skyssl::data::h5
