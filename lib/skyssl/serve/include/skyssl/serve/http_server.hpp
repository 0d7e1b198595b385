#pragma once
// skyssl-serve's HTTP side (cpp-httplib): the JSON API over a search_service, the page's
// static files, the token check, request limits, the bounded worker queue, one access-log line
// per request. Every error is a 4xx/5xx with a one-line JSON body {"error": "..."}.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "skyssl/serve/search_service.hpp"

namespace skyssl::serve {

// A file of the page, compiled into the program (no path from a request reaches the disk).
struct static_file {
  const char* path;  // "/index.html"
  const char* content_type;
  const unsigned char* data;
  std::size_t size;
};

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (tests)
  // Required (config_error otherwise) when host is not a loopback address; a client sends it
  // as "Authorization: Bearer <token>" or ?token=.
  std::string token;
  int workers = 8;
  std::size_t queue = 64;  // connections waiting for a worker; beyond that 503
  std::size_t max_body_bytes = 16 << 20;
  int read_timeout_s = 10;
  int keep_alive_s = 5;
  std::vector<static_file> pages;  // "/" serves "/index.html"
};

// "127.0.0.1", "127.x.y.z", "::1", "localhost".
bool is_loopback(const std::string& host);
// "HOST:PORT" or ":PORT" (loopback) into options; config_error naming the text otherwise.
void parse_listen(const std::string& text, server_options& o);

class http_server {
 public:
  // Checks the options (the token rule) and binds; error naming the address when it cannot.
  http_server(const search_service& service, server_options options);
  ~http_server();
  int port() const;
  // Serves until stop(); in-flight requests finish before it returns.
  void run();
  // From any thread (the signal thread).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace skyssl::serve
