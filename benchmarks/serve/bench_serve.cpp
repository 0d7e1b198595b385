// Question: does skyssl-serve answer neighbour queries over a survey-sized embedding file fast
// enough for many users at once, in how much memory, and how does its RA/Dec look-up compare
// with the published app's (nearest galaxy by brute-force angular separation over every row in
// 1M-row chunks, then a read of that galaxy's precomputed neighbours)?
// In one run: the embedding file (synthetic clustered vectors as bench_search, positions
// uniform over a survey footprint) and an IVF-SQ8 index are written once into --dir; then
// skyssl-serve is started from the saved index (start-up time, resident memory against the
// index file plus the id fields), and a bounded load generator (--clients threads with
// keep-alive connections) asks for neighbours by row and by RA/Dec for --seconds each:
// p50/p99 latency and queries/s. Beside it, in this process, the published app's method for
// the same RA/Dec queries at the same concurrency.
//   bench_serve                                # 10M x 128 (writes ~6 GB under --dir)
//   bench_serve --rows 1000000 --seconds 5     # what fits a loaded 2-core machine
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <hdf5.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "skyssl/core/baked_path.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/embed/embedding_file.hpp"
#include "skyssl/embed/embedding_reader.hpp"
#include "skyssl/search/search_index.hpp"
#include "skyssl/serve/sky_index.hpp"
#include "tests/support/clustered_vectors.hpp"

namespace fs = std::filesystem;
using namespace skyssl;
using clock_type = std::chrono::steady_clock;

namespace {

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct args {
  std::int64_t rows = 10'000'000;
  int dim = 128;
  std::string dir = "bench_serve_data";
  // 8192 lists at 10M rows (FAISS's guide: 4 to 16 sqrt(rows)): against exact search on 100
  // rows of this file, recall@10 0.953 at nprobe 2, 4, 8 and 16 alike (0.939 at nprobe 1;
  // 4096 lists: 0.939 at 4-16), scanning an eighth of the codes that 4096 lists at nprobe 8
  // scan. 0: skyssl-search's default.
  std::int64_t nlist = 8192;
  std::int64_t nprobe = 2;
  int k = 12;
  double seconds = 10;
  std::vector<int> clients = {1, 4, 16};
  int workers = 16;
  std::string serve = skyssl::baked_path("skyssl-serve");
};

constexpr std::int64_t slab = 1 << 16;
constexpr double pi = 3.14159265358979323846;

// Positions of a slab: uniform on the sky between Dec -20 and +35 (a DECaLS-like footprint).
void positions(std::int64_t first, std::int64_t n, double* ra, double* dec) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(first) * 7919 + 1);
  std::uniform_real_distribution<double> u(0, 1);
  const double s0 = std::sin(-20 * pi / 180), s1 = std::sin(35 * pi / 180);
  for (std::int64_t i = 0; i < n; ++i) {
    ra[i] = 360 * u(rng);
    dec[i] = std::asin(s0 + (s1 - s0) * u(rng)) * 180 / pi;
  }
}

// emb.h5 (backbone + objid, ra, dec, mag_r, z_phot) and precomputed.h5 (the published app's
// table: each galaxy's k neighbour rows; only its read cost is measured here, so the rows
// are placeholders rather than a days-long all-pairs search).
void write_files(const args& a, const fs::path& emb, const fs::path& pre) {
  const test::clustered_vectors gen(a.dim, std::max<std::int64_t>(1, a.rows / 1000), 0.5f, 17);
  embed::embedding_header h;
  h.arch = "resnet18";
  h.model = "synthetic";
  h.rows = a.rows;
  h.backbone_dim = a.dim;
  h.chunk_rows = slab;
  const std::vector<embed::field_column> fields = {{"objid", H5T_STD_I64LE},
                                                   {"ra", H5T_IEEE_F64LE},
                                                   {"dec", H5T_IEEE_F64LE},
                                                   {"mag_r", H5T_IEEE_F64LE},
                                                   {"z_phot", H5T_IEEE_F64LE}};
  const auto t0 = clock_type::now();
  {
    embed::embedding_writer w((emb.string() + ".tmp"), h, fields, false);
    std::vector<float> v(slab * a.dim);
    std::vector<std::int64_t> objid(slab);
    std::vector<double> ra(slab), dec(slab), mag(slab), z(slab);
    for (std::int64_t c = 0; c * slab < a.rows; ++c) {
      const std::int64_t first = c * slab, m = std::min(slab, a.rows - first);
      gen.rows(first, m, v.data());
      positions(first, m, ra.data(), dec.data());
      std::mt19937_64 rng(static_cast<std::uint64_t>(first) + 3);
      std::uniform_real_distribution<double> u(0, 1);
      for (std::int64_t i = 0; i < m; ++i) {
        objid[i] = 8'000'000'000LL + first + i;
        mag[i] = 15 + 8 * u(rng);
        z[i] = 0.8 * u(rng);
      }
      w.write_chunk(c, v.data(), nullptr,
                    {objid.data(), ra.data(), dec.data(), mag.data(), z.data()});
    }
    w.close();
  }
  fs::rename(emb.string() + ".tmp", emb);
  fmt::print("wrote {} ({} x {}) in {:.0f} s\n", emb.string(), a.rows, a.dim, since(t0));

  const hid_t f =
      H5Fcreate((pre.string() + ".tmp").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[2] = {static_cast<hsize_t>(a.rows), static_cast<hsize_t>(a.k)};
  const hid_t sp = H5Screate_simple(2, dims, nullptr);
  const hid_t d =
      H5Dcreate2(f, "neighbours", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::int64_t> buf(slab * a.k);
  for (std::int64_t first = 0; first < a.rows; first += slab) {
    const std::int64_t m = std::min(slab, a.rows - first);
    for (std::int64_t i = 0; i < m * a.k; ++i) buf[i] = (first + i / a.k + 1 + i % a.k) % a.rows;
    const hsize_t start[2] = {static_cast<hsize_t>(first), 0},
                  cnt[2] = {static_cast<hsize_t>(m), dims[1]};
    const hid_t fs_ = H5Dget_space(d);
    H5Sselect_hyperslab(fs_, H5S_SELECT_SET, start, nullptr, cnt, nullptr);
    const hid_t ms = H5Screate_simple(2, cnt, nullptr);
    H5Dwrite(d, H5T_NATIVE_INT64, ms, fs_, H5P_DEFAULT, buf.data());
    H5Sclose(ms);
    H5Sclose(fs_);
  }
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);
  fs::rename(pre.string() + ".tmp", pre);
}

double rss_mib(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      double kb = 0;
      f >> kb;
      return kb / 1024;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

struct load_result {
  double p50_ms = 0, p99_ms = 0, qps = 0;
  std::int64_t done = 0, failed = 0;
};

load_result summarise(std::vector<double>& ms, std::int64_t failed, double seconds) {
  load_result r;
  r.done = static_cast<std::int64_t>(ms.size());
  r.failed = failed;
  r.qps = r.done / seconds;
  if (ms.empty()) return r;
  std::sort(ms.begin(), ms.end());
  r.p50_ms = ms[ms.size() / 2];
  r.p99_ms = ms[std::min(ms.size() - 1, static_cast<std::size_t>(ms.size() * 0.99))];
  return r;
}

// `clients` threads, each asking `ask(rng)` in a loop for `seconds`; latency per answer.
template <class Ask>
load_result drive(int clients, double seconds, Ask ask) {
  std::mutex m;
  std::vector<double> all;
  std::atomic<std::int64_t> failed{0};
  std::vector<std::thread> threads;
  const auto t0 = clock_type::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(1234 + c);
      std::vector<double> mine;
      while (since(t0) < seconds) {
        const auto q0 = clock_type::now();
        if (ask(rng, c))
          mine.push_back(since(q0) * 1e3);
        else
          ++failed;
      }
      std::lock_guard<std::mutex> g(m);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  return summarise(all, failed, since(t0));
}

int run(const args& a) {
  fs::create_directories(a.dir);
  const fs::path emb = fs::path(a.dir) / fmt::format("emb_{}.h5", a.rows);
  const fs::path pre = fs::path(a.dir) / fmt::format("precomputed_{}.h5", a.rows);
  // The index is reused only with the lists it was built with.
  const fs::path index =
      fs::path(a.dir) / fmt::format("emb_{}_nlist{}.ivfsq8", a.rows,
                                    a.nlist > 0 ? std::to_string(a.nlist) : std::string("auto"));
  if (!fs::exists(emb) || !fs::exists(pre)) write_files(a, emb, pre);
  const embed::embedding_reader e(emb);
  if (!fs::exists(index)) {
    search::index_build_options o;
    o.index.kind = search::index_kind::ivf_sq8;
    o.index.nlist = a.nlist;
    const auto t0 = clock_type::now();
    auto ix = search::search_index::build(e, "backbone", o);
    ix.save(index);
    fmt::print("built and saved {} ({}) in {:.0f} s\n", index.string(), ix.index().description(),
               since(t0));
  }
  const double index_mib = fs::file_size(index) / 1048576.0;
  const double fields_mib = a.rows * 5 * 8 / 1048576.0;

  // skyssl-serve from the saved index.
  const auto log = fs::path(a.dir) / "serve.log";
  fs::remove(log);  // a previous run's "serving ... PORT" line must not be read as this one's
  const auto t0 = clock_type::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = fmt::format(
        "exec {} --embeddings {} --index {} --nprobe {} --workers {} --queue 256 "
        "--listen 127.0.0.1:0 > {} 2>&1",
        a.serve, emb.string(), index.string(), a.nprobe, a.workers, log.string());
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int port = 0;
  while (port == 0) {
    std::ifstream f(log);
    std::stringstream s;
    s << f.rdbuf();
    const auto text = s.str();
    if (const auto at = text.find("on http://127.0.0.1:"); at != std::string::npos)
      port = std::stoi(text.substr(at + 20));
    else if (::waitpid(pid, nullptr, WNOHANG) == pid)
      throw error("skyssl-serve did not start:\n" + text);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double startup_s = since(t0);
  const double rss = rss_mib(pid);
  if (rss <= 0) throw error("cannot read skyssl-serve's resident memory from /proc");

  const auto ra = e.column("ra").contiguous(), dec = e.column("dec").contiguous();
  const double* rap = ra.data_ptr<double>();
  const double* decp = dec.data_ptr<double>();
  // A position 1 arcsec from a random galaxy.
  auto position = [&](std::mt19937_64& rng) {
    const std::int64_t r = std::uniform_int_distribution<std::int64_t>(0, a.rows - 1)(rng);
    return std::pair<double, double>{rap[r], std::clamp(decp[r] + 1.0 / 3600, -90.0, 90.0)};
  };
  std::vector<std::unique_ptr<httplib::Client>> conns;
  for (int c = 0; c < *std::max_element(a.clients.begin(), a.clients.end()); ++c) {
    conns.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
    conns.back()->set_keep_alive(true);
    conns.back()->set_read_timeout(60, 0);
  }
  auto by_row = [&](std::mt19937_64& rng, int c) {
    const auto r = std::uniform_int_distribution<std::int64_t>(0, a.rows - 1)(rng);
    auto res = conns[c]->Get(fmt::format("/api/neighbours?row={}&k={}", r, a.k).c_str());
    return res && res->status == 200;
  };
  auto by_position = [&](std::mt19937_64& rng, int c) {
    const auto [qra, qdec] = position(rng);
    auto res = conns[c]->Get(
        fmt::format("/api/neighbours?ra={:.7f}&dec={:.7f}&k={}", qra, qdec, a.k).c_str());
    return res && res->status == 200;
  };

  // The published app's method, here in C++ over columns in memory (its Python is slower):
  // every row's separation in 1M-row chunks, the minimum, then the precomputed row.
  const hid_t pf = H5Fopen(pre.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t pd = H5Dopen2(pf, "neighbours", H5P_DEFAULT);
  std::mutex h5;
  auto published = [&](std::mt19937_64& rng, int) {
    const auto [qra, qdec] = position(rng);
    std::int64_t best = -1;
    double best_sep = 1e300;
    for (std::int64_t first = 0; first < a.rows; first += 1'000'000) {
      const std::int64_t end = std::min(a.rows, first + 1'000'000);
      for (std::int64_t i = first; i < end; ++i) {
        const double s = serve::separation_arcsec(qra, qdec, rap[i], decp[i]);
        if (s < best_sep) best_sep = s, best = i;
      }
    }
    std::vector<std::int64_t> nn(a.k);
    std::lock_guard<std::mutex> g(h5);
    const hid_t fs_ = H5Dget_space(pd);
    const hsize_t start[2] = {static_cast<hsize_t>(best), 0},
                  cnt[2] = {1, static_cast<hsize_t>(a.k)};
    H5Sselect_hyperslab(fs_, H5S_SELECT_SET, start, nullptr, cnt, nullptr);
    const hid_t ms = H5Screate_simple(2, cnt, nullptr);
    const bool ok = H5Dread(pd, H5T_NATIVE_INT64, ms, fs_, H5P_DEFAULT, nn.data()) >= 0;
    H5Sclose(ms);
    H5Sclose(fs_);
    return ok;
  };

  fmt::print(
      "\nskyssl-serve over {} x {} rows ({}), nprobe {}, k {}, {} workers; {:.0f} s a cell\n",
      a.rows, a.dim, "IVF-SQ8", a.nprobe, a.k, a.workers, a.seconds);
  fmt::print("start-up from the saved index: {:.1f} s\n", startup_s);
  fmt::print(
      "resident memory: {:.0f} MiB = {:.2f} x (index file {:.0f} MiB + id fields {:.0f} MiB)\n",
      rss, rss / (index_mib + fields_mib), index_mib, fields_mib);
  fmt::print("\n{:<34} {:>7} {:>9} {:>9} {:>9} {:>8}\n", "method", "clients", "p50 ms", "p99 ms",
             "q/s", "failed");
  auto row = [&](const std::string& what, int c, const load_result& r) {
    fmt::print("{:<34} {:>7} {:>9.2f} {:>9.2f} {:>9.1f} {:>8}\n", what, c, r.p50_ms, r.p99_ms,
               r.qps, r.failed);
  };
  std::vector<std::pair<int, load_result>> serve_pos, app_pos;
  for (const int c : a.clients) row("serve: neighbours by row", c, drive(c, a.seconds, by_row));
  for (const int c : a.clients) {
    serve_pos.push_back({c, drive(c, a.seconds, by_position)});
    row("serve: neighbours by RA/Dec", c, serve_pos.back().second);
  }
  for (const int c : a.clients) {
    app_pos.push_back({c, drive(c, a.seconds, published)});
    row("published app: scan + precomputed", c, app_pos.back().second);
  }
  fmt::print("\n");
  for (std::size_t i = 0; i < serve_pos.size(); ++i)
    fmt::print(
        "RA/Dec at {:>2} clients: serve p50 {:.1f}x faster, {:.1f}x the queries/s of the "
        "published method\n",
        serve_pos[i].first, app_pos[i].second.p50_ms / std::max(1e-9, serve_pos[i].second.p50_ms),
        serve_pos[i].second.qps / std::max(1e-9, app_pos[i].second.qps));
  // The sky index alone, in this process.
  {
    const serve::sky_index sky(rap, decp, a.rows);
    std::mt19937_64 rng(9);
    const int n = 20000;
    const auto s0 = clock_type::now();
    std::int64_t found = 0;
    for (int i = 0; i < n; ++i) {
      const auto [qra, qdec] = position(rng);
      found += sky.nearest(qra, qdec).row >= 0;
    }
    fmt::print("sky index alone: {:.2f} us a look-up over {} rows ({} found)\n",
               since(s0) / n * 1e6, a.rows, found);
  }
  H5Dclose(pd);
  H5Fclose(pf);
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  fmt::print("skyssl-serve exited with status {} after SIGTERM\n", WEXITSTATUS(st));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_serve: skyssl-serve's latency, throughput and memory at survey scale"};
  args a;
  app.add_option("--rows", a.rows, "rows of the synthetic embedding file")
      ->check(CLI::PositiveNumber);
  app.add_option("--dim", a.dim, "dimension")->check(CLI::PositiveNumber);
  app.add_option("--dir", a.dir, "where the files are written once and reused");
  app.add_option("--nlist", a.nlist, "IVF lists (0: skyssl-search's default, about 2 sqrt(rows))");
  app.add_option("--nprobe", a.nprobe, "IVF lists visited per query")->check(CLI::PositiveNumber);
  app.add_option("--k", a.k, "neighbours per query")->check(CLI::PositiveNumber);
  app.add_option("--seconds", a.seconds, "seconds per cell of the table")
      ->check(CLI::PositiveNumber);
  app.add_option("--clients", a.clients, "concurrent clients")->delimiter(',');
  app.add_option("--workers", a.workers, "skyssl-serve --workers");
  app.add_option("--serve", a.serve, "the skyssl-serve program");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_serve: {}\n", e.what());
    return 1;
  }
}
