#include "skyssl/serve/http_server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/serve/http_error.hpp"
#include "skyssl/serve/request_params.hpp"
#include "skyssl/serve/worker_queue.hpp"

namespace skyssl::serve {
namespace {

thread_local std::chrono::steady_clock::time_point request_start;

void json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  // dump() escapes control characters: the body stays one line whatever the message holds.
  res.set_content(nlohmann::json{{"error", message}}.dump() + "\n", "application/json");
}

// Runs a handler; what it throws becomes the status and one-line JSON error.
template <class F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const http_error& e) {
      json_error(res, e.status(), e.what());
    } catch (const data_error& e) {
      json_error(res, 400, e.what());
    } catch (const config_error& e) {
      json_error(res, 400, e.what());
    } catch (const std::exception& e) {
      json_error(res, 500, e.what());
    }
  };
}

query_params params_of(const httplib::Request& req) {
  return query_params(req.params.begin(), req.params.end());
}

bool same_token(const std::string& a, const std::string& b) {
  // Time independent of where they differ.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// The request line for the access log, without the token.
std::string logged_target(const httplib::Request& req) {
  std::string q;
  for (const auto& [k, v] : req.params)
    q += (q.empty() ? "?" : "&") + k + "=" + (k == "token" ? "*" : v);
  std::string t = req.path + q;
  if (t.size() > 200) t = t.substr(0, 200) + "...";
  for (auto& c : t)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return t;
}

}  // namespace

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void parse_listen(const std::string& text, server_options& o) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw config_error(fmt::format("--listen '{}': give HOST:PORT, e.g. 127.0.0.1:8080", text));
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  o.host = host.empty() ? "127.0.0.1" : host;
  try {
    o.port = static_cast<int>(parse_bounded_int(text.substr(colon + 1), "port", 0, 65535));
  } catch (const http_error& e) {
    throw config_error(fmt::format("--listen '{}': {}", text, e.what()));
  }
}

struct http_server::impl {
  const search_service& service;
  server_options o;
  httplib::Server server;
  int port = 0;

  impl(const search_service& s, server_options opt) : service(s), o(std::move(opt)) {}

  void routes();
};

void http_server::impl::routes() {
  // Handlers outlive this function: they hold the service by pointer, not a local reference.
  const search_service* svc = &service;
  server.Get("/api/info", guarded([svc](const httplib::Request& req, httplib::Response& res) {
               for (const auto& [k, v] : req.params)
                 if (k != "token")
                   throw bad_request(
                       fmt::format("unknown parameter '{}' (info takes none)", k.substr(0, 40)));
               res.set_content(svc->info().dump() + "\n", "application/json");
             }));
  auto answer = [svc](const neighbour_query& q, httplib::Response& res) {
    const auto r = svc->neighbours(q);
    if (q.csv) {
      res.set_content(svc->to_csv(q, r), "text/csv");
      res.set_header("Content-Disposition", "attachment; filename=\"neighbours.csv\"");
    } else {
      res.set_content(svc->to_json(q, r).dump() + "\n", "application/json");
    }
  };
  server.Get("/api/neighbours",
             guarded([svc, answer](const httplib::Request& req, httplib::Response& res) {
               answer(svc->parse_query(params_of(req)), res);
             }));
  server.Post("/api/neighbours",
              guarded([svc, answer](const httplib::Request& req, httplib::Response& res) {
                answer(svc->parse_upload_query(params_of(req), req.body,
                                               req.get_header_value("Content-Type")),
                       res);
              }));
  server.Post(
      "/api/embed", guarded([svc](const httplib::Request& req, httplib::Response& res) {
        res.set_content(
            svc->embed(req.body, req.get_header_value("Content-Type"), params_of(req)).dump() +
                "\n",
            "application/json");
      }));
  server.Get(R"(/api/tile/([^/]*)\.png)",
             guarded([svc](const httplib::Request& req, httplib::Response& res) {
               res.set_content(svc->tile(req.matches[1].str(), params_of(req)), "image/png");
               res.set_header("Cache-Control", "max-age=3600");
             }));
  auto wrong_method = guarded([](const httplib::Request& req, httplib::Response&) {
    throw http_error(405, fmt::format("{} {}: not a method of this path", req.method, req.path));
  });
  server.Get("/api/embed", wrong_method);
  for (const auto* path : {"/api/info", R"(/api/tile/.*)"}) server.Post(path, wrong_method);
  for (const auto& f : o.pages) {
    const std::string path = f.path;
    const auto page = [f](const httplib::Request&, httplib::Response& res) {
      res.set_content(reinterpret_cast<const char*>(f.data), f.size, f.content_type);
    };
    server.Get(path, page);
    if (path == "/index.html") server.Get("/", page);
  }
}

http_server::http_server(const search_service& service, server_options options)
    : p_(std::make_unique<impl>(service, std::move(options))) {
  auto& o = p_->o;
  if (!is_loopback(o.host) && o.token.empty())
    throw config_error(fmt::format(
        "--listen {}: not a loopback address; anyone who reaches it could query the service: "
        "give --token or --token-file",
        o.host));
  if (o.workers < 1) throw config_error("--workers must be at least 1");
  auto& s = p_->server;
  const int workers = o.workers;
  const std::size_t queue = o.queue;
  s.new_task_queue = [workers, queue] { return new worker_queue(workers, queue); };
  s.set_payload_max_length(o.max_body_bytes);
  s.set_read_timeout(o.read_timeout_s, 0);
  s.set_write_timeout(o.read_timeout_s, 0);
  s.set_keep_alive_timeout(o.keep_alive_s);
  s.set_keep_alive_max_count(100);
  // Headers and body go out in separate writes: without this, Nagle's algorithm holds the body
  // until the client's delayed ACK (~40 ms on Linux) on every keep-alive request.
  s.set_tcp_nodelay(true);
  const std::string token = o.token;
  s.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
    if (worker_queue::overloaded()) {
      json_error(res, 503, "the service is busy: every worker is taken; try again shortly");
      res.set_header("Retry-After", "1");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!token.empty() && req.path.rfind("/api/", 0) == 0) {
      std::string given = req.has_param("token") ? req.get_param_value("token") : "";
      const auto auth = req.get_header_value("Authorization");
      if (auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
      if (!same_token(given, token)) {
        json_error(res, 401,
                   "this service wants a token: 'Authorization: Bearer <token>' or ?token=");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own JSON error
    if (res.status == 404)
      json_error(res, 404, fmt::format("no such path: {}", logged_target(req).substr(0, 80)));
    else if (res.status == 413)
      json_error(res, 413, "the request body is over the service's limit");
    else
      json_error(res, res.status, fmt::format("HTTP {}", res.status));
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          json_error(res, 500, e.what());
        } catch (...) {
          json_error(res, 500, "unknown error");
        }
      });
  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start)
            .count();
    log::info("access {} {} {} {} {}B {:.1f}ms", req.remote_addr, req.method, logged_target(req),
              res.status, res.body.size(), ms);
  });
  p_->routes();
  if (o.port == 0) {
    p_->port = s.bind_to_any_port(o.host);
    if (p_->port < 0) throw error(fmt::format("cannot listen on {} (any port)", o.host));
  } else {
    if (!s.bind_to_port(o.host, o.port))
      throw error(fmt::format("cannot listen on {}:{} (in use, or not an address of this host)",
                              o.host, o.port));
    p_->port = o.port;
  }
}

http_server::~http_server() = default;

int http_server::port() const { return p_->port; }

void http_server::run() { p_->server.listen_after_bind(); }

void http_server::stop() { p_->server.stop(); }

}  // namespace skyssl::serve
