// Question: does the shard reader deliver random training batches at the speed the storage
// gives, and does that keep a GPU fed? Side by side in one run, for one file and for a
// multi-file archive of the same rows, page cache warm:
//   POSIX pread   each sorted row of the batch straight into its slot, at the offset HDF5
//                 reports (H5Dget_offset): the storage's speed, no checks, no fields; the
//                 same rows, order and destinations as the reader (threads started once,
//                 batches into prefetch + 2 buffers in turn);
//   h5py          f["images"][sorted ids] per file, rows put back in batch order
//                 (bench_reader.py, /usr/bin/python3);
//   shard_reader  the real reader (epoch plan, direct preads, fused non-finite check, the
//                 ebv/psf fields, prefetch thread) at 1 and 2 read threads, and through HDF5
//                 selections (data.direct_reads = false) for reference;
// then images/s against what one GPU consumes when training a ResNet-50 at 96x96 from
// 3x152x152 float32 cutouts (A100 ~10,000 img/s, H200 ~20,000 img/s: 3-6 GB/s; source: issue
// #10 of this project, measured with mixed precision).
//   bench_reader [--archive f.h5 | --count 4096 --size 152 --files 4] [--batch 256]
//                       [--steps 16] [--repeat 5] [--json out.json]
// Each repeat measures every method once, pread and the reader back to back; times shown are
// the best of the repeats, ratios the median of the per-repeat ratios (robust to load that
// comes and goes on a shared machine).
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <thread>

#include "skyssl/core/baked_path.hpp"
#include "skyssl/core/thread_pool.hpp"
#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/data/writer.hpp"

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

constexpr double a100_images_per_s = 10000;  // issue #10: ResNet-50 at 96x96, mixed precision
constexpr double h200_images_per_s = 20000;

double seconds_since(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

// Rows [first, first + count) of a 3-band archive with cheap, non-constant pixels (the reader's
// speed does not depend on what the pixels show) and the fields the trainer reads.
void write_file(const std::string& path, std::int64_t first, std::int64_t count, int size) {
  skyssl::data::writer_options wo;
  wo.path = path;
  wo.count = count;
  wo.channels = 3;
  wo.height = wo.width = size;
  wo.bands = {"g", "r", "z"};
  wo.pixel_scale = 0.262;
  wo.survey = "decals";
  wo.fields = {{"ebv", skyssl::data::field_type::f32},
               {"psfsize_g", skyssl::data::field_type::f32},
               {"psfsize_r", skyssl::data::field_type::f32},
               {"psfsize_z", skyssl::data::field_type::f32}};
  skyssl::data::archive_writer w(wo);
  const std::size_t per = 3 * static_cast<std::size_t>(size) * size;
  const std::int64_t block = 64;
  std::vector<float> img(per * block), col(block);
  for (std::int64_t s = 0; s < count; s += block) {
    const std::int64_t n = std::min(block, count - s);
    for (std::int64_t k = 0; k < n; ++k)
      for (std::size_t i = 0; i < per; ++i)
        img[static_cast<std::size_t>(k) * per + i] =
            static_cast<float>((first + s + k) % 997) * 1e-3f + static_cast<float>(i % 251) * 1e-4f;
    w.write_images(s, n, img.data());
    for (const char* f : {"ebv", "psfsize_g", "psfsize_r", "psfsize_z"}) {
      for (std::int64_t k = 0; k < n; ++k) col[static_cast<std::size_t>(k)] = 0.01f;
      w.write_field(f, s, n, col.data());
    }
  }
  w.close();
}

struct file_region {
  std::string path;
  std::int64_t first = 0, rows = 0;
  haddr_t offset = 0;
  int fd = -1;
};

std::vector<file_region> regions(const skyssl::data::archive& ar) {
  std::vector<file_region> out;
  for (const auto& f : ar.files()) {
    file_region r{f.path, f.first_row, f.rows, HADDR_UNDEF, -1};
    const hid_t h = H5Fopen(f.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(h, "images", H5P_DEFAULT);
    r.offset = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(h);
    if (r.offset == HADDR_UNDEF || f.image_dtype != "float32")
      throw std::runtime_error(
          fmt::format("'{}': images must be contiguous float32 for the pread baseline", f.path));
    r.fd = ::open(f.path.c_str(), O_RDONLY);
    out.push_back(r);
  }
  return out;
}

// The storage's speed: per batch, sort, then pread each row straight into its slot, shared
// out over the threads of a pool started once (as the reader's read threads are). The batches
// go to `outs` in turn, as the reader's do: a loader that hands batches to a trainer while it
// reads the next ones fills prefetch + 2 buffers in rotation, not one buffer that stays in the
// CPU cache.
double time_pread(const std::vector<file_region>& files, const skyssl::data::epoch_plan& plan,
                  std::int64_t steps, std::int64_t pix, skyssl::thread_pool& pool,
                  std::vector<std::vector<float>>& outs) {
  const auto t0 = clk::now();
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto ids = plan.global_ids(s);
    std::vector<std::int64_t> order(ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ids[a] < ids[b]; });
    auto& out = outs[static_cast<std::size_t>(s) % outs.size()];
    pool.parallel_for(order.size(), [&](std::size_t lo, std::size_t hi, int) {
      for (std::size_t k = lo; k < hi; ++k) {
        const std::int64_t id = ids[static_cast<std::size_t>(order[k])];
        const auto& f = *std::find_if(files.begin(), files.end(), [&](const file_region& r) {
          return id >= r.first && id < r.first + r.rows;
        });
        const std::size_t bytes = static_cast<std::size_t>(pix) * 4;
        const off_t at =
            static_cast<off_t>(f.offset + static_cast<haddr_t>((id - f.first) * pix * 4));
        if (::pread(f.fd, out.data() + order[k] * pix, bytes, at) != static_cast<ssize_t>(bytes))
          throw std::runtime_error("short pread");
      }
    });
  }
  return seconds_since(t0);
}

double time_reader(const skyssl::data::archive_options& ao, int threads, bool direct,
                   std::int64_t batch, std::int64_t steps, int prefetch) {
  auto o = ao;
  o.direct_reads = direct;
  skyssl::data::reader_options ro;
  ro.prefetch = prefetch;
  ro.read_threads = threads;
  skyssl::data::shard_reader reader(o, ro, 7, batch, 0, 1);
  // Steady state, as in training: one untimed pass fills the reader's buffer pool (fresh
  // tensors would cost page faults the pread baseline, reusing one buffer, does not pay).
  reader.start(1, 0);
  double sum = 0;
  for (std::int64_t s = 0; s < std::min<std::int64_t>(steps, prefetch + 4); ++s)
    sum += reader.next().images.data_ptr<float>()[0];
  // The timed batches are the same as the other methods'. start() first joins the warm-up
  // thread (mid-batch); the clock starts once the new thread is launched.
  reader.start(0, 0);
  const auto t0 = clk::now();
  for (std::int64_t s = 0; s < steps; ++s) sum += reader.next().images.data_ptr<float>()[0];
  const double t = seconds_since(t0);
  if (sum != sum) fmt::print("(NaN checksum)\n");
  return t;
}

void warm(const std::vector<std::string>& paths) {
  std::vector<char> buf(1 << 24);
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size()))) {
    }
  }
}

struct measurement {
  std::string name;
  std::vector<double> t;  // seconds, one per repeat
  double best() const { return *std::min_element(t.begin(), t.end()); }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Throughput ratio a over b (> 1: a is faster): the median over repeats of t_b / t_a, each
// repeat's pair measured back to back, so load that comes and goes affects both sides alike.
double ratio(const measurement& a, const measurement& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.t.size() && i < b.t.size(); ++i) r.push_back(b.t[i] / a.t[i]);
  return median(r);
}

nlohmann::json report(const std::string& title, const std::string& layout,
                      const std::vector<measurement>& m, double mb, double n_img) {
  fmt::print("{}\n", title);
  nlohmann::json j = {{"layout", layout}, {"title", title}, {"methods", nlohmann::json::object()}};
  for (const auto& x : m) {
    const double ips = n_img / x.best();
    fmt::print(
        "  {:<40} {:8.3f} s  {:9.1f} MB/s  {:10.1f} images/s  = {:5.2f}x A100, {:5.2f}x H200\n",
        x.name, x.best(), mb / x.best(), ips, ips / a100_images_per_s, ips / h200_images_per_s);
    j["methods"][x.name] = {{"seconds", x.t},
                            {"mb_per_s", mb / x.best()},
                            {"images_per_s", ips},
                            {"median_mb_per_s", mb / median(x.t)},
                            {"median_images_per_s", n_img / median(x.t)}};
  }
  const auto& p1 = m[0];
  const auto& p2 = m[1];
  const auto& r1 = m[2];
  const auto& r2 = m[3];
  j["reader_over_pread_1"] = ratio(r1, p1);
  j["reader_over_pread_2"] = ratio(r2, p2);
  j["reader_2_over_1"] = ratio(r2, r1);
  j["pread_2_over_1"] = ratio(p2, p1);
  fmt::print(
      "  ratios (throughput, > 1: the reader is faster; median over repeats): reader/pread "
      "{:.2f}x (1 thread), {:.2f}x (2 threads)",
      ratio(r1, p1), ratio(r2, p2));
  if (m.size() > 5) {
    j["reader_over_h5py_1"] = ratio(r1, m[5]);
    j["reader_over_h5py_2"] = ratio(r2, m[5]);
    fmt::print("; reader/h5py {:.2f}x (1 thread), {:.2f}x (2 threads)", ratio(r1, m[5]),
               ratio(r2, m[5]));
  }
  fmt::print("; 2 vs 1 threads: reader {:.2f}x, pread {:.2f}x\n", ratio(r2, r1), ratio(p2, p1));
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shard reader vs pread vs h5py: random-batch read throughput, one file and many"};
  std::string archive_path, python = "/usr/bin/python3", json_path;
  std::int64_t count = 4096, batch = 256, steps = 16;
  int size = 152, prefetch = 2, files = 4, repeat = 5;
  app.add_option("--archive", archive_path,
                 "existing archive (file, glob or @list; else one is written)");
  app.add_option("--count", count, "images to write")->capture_default_str();
  app.add_option("--size", size, "image size written (3 x size x size float32)")
      ->capture_default_str();
  app.add_option("--files", files, "files of the multi-file archive written")
      ->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--steps", steps, "batches per measurement")->capture_default_str();
  app.add_option("--repeat", repeat,
                 "measurements per method, interleaved (times: the best; ratios: the median)")
      ->capture_default_str();
  app.add_option("--prefetch", prefetch, "shard reader prefetch depth")->capture_default_str();
  app.add_option("--python", python, "python with h5py")->capture_default_str();
  app.add_option("--json", json_path, "also write the figures to this JSON file");
  CLI11_PARSE(app, argc, argv);
  nlohmann::json results = {
      {"layouts", nlohmann::json::array()},
      {"gpu_images_per_s", {{"A100", a100_images_per_s}, {"H200", h200_images_per_s}}}};
  try {
    const auto work = fs::temp_directory_path() / fmt::format("bench_reader-{}", getpid());
    fs::create_directories(work);
    std::vector<std::pair<std::string, std::vector<std::string>>> layouts;
    if (!archive_path.empty()) {
      layouts.push_back({archive_path, {archive_path}});
    } else {
      layouts.push_back({"one file", {(work / "one.h5").string()}});
      std::vector<std::string> parts;
      for (int i = 0; i < files; ++i)
        parts.push_back((work / fmt::format("part-{:03}.h5", i)).string());
      layouts.push_back({fmt::format("{} files", files), parts});
    }
    for (const auto& [title, paths] : layouts) {
      if (archive_path.empty()) {
        const auto t0 = clk::now();
        const std::int64_t per = (count + static_cast<std::int64_t>(paths.size()) - 1) /
                                 static_cast<std::int64_t>(paths.size());
        for (std::size_t i = 0; i < paths.size(); ++i) {
          const std::int64_t first = static_cast<std::int64_t>(i) * per;
          write_file(paths[i], first, std::min(per, count - first), size);
        }
        fmt::print("wrote {} images 3x{}x{} float32 into {} file(s) in {:.1f} s\n", count, size,
                   size, paths.size(), seconds_since(t0));
      }
      skyssl::data::archive_options ao;
      ao.paths = paths;
      const skyssl::data::archive ar(ao);
      const auto files_r = regions(ar);
      const std::int64_t pix = static_cast<std::int64_t>(ar.channels()) * ar.height() * ar.width();
      const std::int64_t n_steps = std::min(steps, ar.size() / batch);
      const double mb = static_cast<double>(n_steps * batch * pix * 4) / 1e6;
      const double n_img = static_cast<double>(n_steps * batch);
      const skyssl::data::epoch_plan plan(7, 0, ar.size(), batch);
      std::vector<std::vector<float>> outs(static_cast<std::size_t>(prefetch + 2));
      for (auto& o : outs) o.assign(static_cast<std::size_t>(batch * pix), 0.0f);  // faulted in
      skyssl::thread_pool pool1(1), pool2(2);
      // h5py reads the same batches: the plan's ids, written for the script.
      const auto ids_path = work / "ids.bin";
      {
        std::ofstream o(ids_path, std::ios::binary);
        for (std::int64_t s = 0; s < n_steps; ++s) {
          const auto ids = plan.global_ids(s);
          o.write(reinterpret_cast<const char*>(ids.data()),
                  static_cast<std::streamsize>(ids.size() * 8));
        }
      }
      const auto list = work / "files.txt";
      {
        std::ofstream o(list);
        for (const auto& f : ar.files()) o << f.path << ' ' << f.rows << '\n';
      }
      const fs::path script = fs::path(skyssl::baked_path("bench_dir")) / "bench_reader.py";
      warm(paths);
      std::vector<measurement> m = {{"POSIX pread, 1 thread", {}},
                                    {"POSIX pread, 2 threads", {}},
                                    {"shard_reader, 1 read thread", {}},
                                    {"shard_reader, 2 read threads", {}},
                                    {"shard_reader, HDF5 selections, 1 thread", {}},
                                    {"h5py", {}}};
      bool have_h5py = true;
      for (int rep = 0; rep < repeat; ++rep) {
        m[0].t.push_back(time_pread(files_r, plan, n_steps, pix, pool1, outs));
        m[2].t.push_back(time_reader(ao, 1, true, batch, n_steps, prefetch));
        m[1].t.push_back(time_pread(files_r, plan, n_steps, pix, pool2, outs));
        m[3].t.push_back(time_reader(ao, 2, true, batch, n_steps, prefetch));
        m[4].t.push_back(time_reader(ao, 1, false, batch, n_steps, prefetch));
        const auto py_out = work / "h5py.txt";
        const std::string cmd =
            fmt::format("{} {} {} {} {} > {}", python, script.string(), list.string(),
                        ids_path.string(), batch, py_out.string());
        double t = -1;
        if (have_h5py && std::system(cmd.c_str()) == 0) {
          std::ifstream in(py_out);
          in >> t;
        }
        if (t > 0) {
          m[5].t.push_back(t);
        } else {
          have_h5py = false;
        }
      }
      if (!have_h5py) {
        fmt::print("(h5py not measured: '{}' failed)\n", python);
        m.pop_back();
      }
      for (auto& f : files_r) ::close(f.fd);
      auto j = report(fmt::format("{}: {} x 3x{}x{} float32 ({}), {} random batches of {} ({:.1f} "
                                  "MB), page cache warm, best of {}",
                                  title, ar.size(), ar.height(), ar.width(),
                                  ar.files().front().images_read, n_steps, batch, mb, repeat),
                      title, m, mb, n_img);
      j["files"] = ar.files().size();
      j["images"] = ar.size();
      j["batch"] = batch;
      j["steps"] = n_steps;
      j["repeat"] = repeat;
      results["layouts"].push_back(j);
      if (archive_path.empty())
        for (const auto& p : paths) fs::remove(p);
    }
    fmt::print(
        "one GPU consumes ~{:.0f} (A100) to ~{:.0f} (H200) images/s: ResNet-50 at 96x96, "
        "mixed precision (issue #10)\n",
        a100_images_per_s, h200_images_per_s);
    fs::remove_all(work);
    if (!json_path.empty()) std::ofstream(json_path) << results.dump(2) << '\n';
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_reader: {}\n", e.what());
    return 1;
  }
  return 0;
}
