// skyssl-serve: one long-running process answering similarity searches over a run's embedding
// file for many users: a JSON API and a web page (docs/serving.md).
//   skyssl-serve --run-dir runs/ex --index runs/ex/emb.ivf --listen 127.0.0.1:8080
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "apps/common/index_flags.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/search/similarity_index.hpp"
#include "skyssl/serve/http_server.hpp"
#include "skyssl/serve/search_service.hpp"

std::vector<skyssl::serve::static_file> skyssl_www_files();  // generated: www_files.cpp

using namespace skyssl;

namespace {

struct cli_args {
  serve::service_options service;
  serve::server_options server;
  std::string kind = "flat", listen = "127.0.0.1:8080", token_file;
};

std::string read_token_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw config_error(fmt::format("--token-file '{}' cannot be read", path));
  std::string t;
  std::getline(f, t);
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) throw config_error(fmt::format("--token-file '{}' is empty", path));
  return t;
}

int run(cli_args a) {
  serve::parse_listen(a.listen, a.server);
  if (!a.token_file.empty()) {
    if (!a.server.token.empty()) throw config_error("give --token or --token-file, not both");
    a.server.token = read_token_file(a.token_file);
  }
  // Checked before minutes of loading: a non-loopback address needs a token.
  if (!serve::is_loopback(a.server.host) && a.server.token.empty())
    throw config_error(fmt::format(
        "--listen {}: not a loopback address; anyone who reaches it could query the service: "
        "give --token or --token-file",
        a.listen));
  a.service.build.index.kind = search::parse_index_kind(a.kind, "--kind");
  a.server.pages = skyssl_www_files();

  // SIGINT and SIGTERM go to one thread that stops the server; every other thread (HTTP
  // workers, FAISS, torch) inherits the blocked mask, so a signal never lands mid-request.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const serve::search_service service(a.service);
  serve::http_server server(service, a.server);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log::info("signal {}: finishing the requests in flight, then exiting", sig);
    server.stop();
  });
  log::info(
      "serving {} rows of /{} on http://{}:{}/ (id fields and sky index: {:.1f} MiB)",
      service.rows(), service.options().space,
      a.server.host.find(':') != std::string::npos ? "[" + a.server.host + "]" : a.server.host,
      server.port(), service.table_bytes() / 1048576.0);
  std::fflush(stdout);
  server.run();
  ::kill(::getpid(), SIGTERM);  // wakes the waiter when the server ended on its own
  waiter.join();
  log::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"skyssl-serve: a similarity-search service and web page over a run's embeddings"};
  cli_args a;
  auto& s = a.service;
  auto& h = a.server;
  app.add_option("--run-dir", s.run_dir,
                 "run (skyssl-train): its encoder embeds uploads; default embeddings.h5 in it");
  app.add_option("--embeddings", s.embeddings, "embedding file (skyssl-embed)");
  app.add_option("--index", s.index, "index file: loaded when it exists, else built and saved");
  app.add_option("--archive", s.archive,
                 "archive for tiles (default: the embedding file's source)");
  app.add_option("--space", s.space, "backbone or projection (default: backbone if present)");
  apps::add_index_build_flags(app, a.kind, s.build.index);
  app.add_option("--nprobe", s.search.nprobe, "IVF lists visited when a request gives no nprobe")
      ->check(CLI::PositiveNumber);
  app.add_option("--ef-search", s.search.ef_search, "hnsw search queue")
      ->check(CLI::PositiveNumber);
  app.add_option("--listen", a.listen, "HOST:PORT (port 0: any free one)");
  app.add_option("--token", h.token, "token clients must send (needed off loopback)");
  app.add_option("--token-file", a.token_file, "file whose first line is the token");
  app.add_option("--workers", h.workers, "threads answering requests")->check(CLI::Range(1, 256));
  app.add_option("--queue", h.queue, "connections waiting for a worker before 503s")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-k", s.limits.max_k, "most neighbours a request may ask for")
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-body-mb", h.max_body_bytes, "largest upload, MiB")
      ->check(CLI::Range(1, 1024))
      ->transform([](std::string v) { return std::to_string(std::stoull(v) << 20); });
  CLI11_PARSE(app, argc, argv);
  try {
    kernels::kokkos_scope kokkos;
    return run(a);
  } catch (const std::exception& e) {
    log::error("skyssl-serve: {}", e.what());
    return 1;
  }
}
