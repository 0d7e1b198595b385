#pragma once
// A request the service cannot answer, with the HTTP status that says why (400 malformed,
// 401 no token, 404 no such row, 413 too large, 415 wrong content type, 503 busy). The server
// turns it into that status and a one-line JSON body {"error": message}.
#include <stdexcept>
#include <string>

namespace skyssl::serve {

class http_error : public std::runtime_error {
 public:
  http_error(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

inline http_error bad_request(const std::string& message) { return {400, message}; }
inline http_error not_found(const std::string& message) { return {404, message}; }

}  // namespace skyssl::serve
