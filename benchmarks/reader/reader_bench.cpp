// Question: how fast does the shard reader deliver random training batches, compared with
// plain POSIX reads of the same bytes (pread of the contiguous `images` region, offset from
// H5Dget_offset) and with h5py doing the same random-batch reads (reader_bench.py)?
// Same archive, same batches (the epoch plan's ids), page cache warmed first; prints MB/s,
// images/s and the ratios.
//   skyssl-bench-reader [--archive f.h5 | --count 4096 --size 64] [--batch 256] [--steps 16]
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "skyssl/data/synth.hpp"
#include "skyssl/data/writer.hpp"

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

void synthesise(const std::string& path, std::int64_t count, int size) {
  skyssl::data::synth_options so;
  so.size = size;
  skyssl::data::writer_options wo;
  wo.path = path;
  wo.count = count;
  wo.channels = 3;
  wo.height = wo.width = size;
  wo.bands = so.bands;
  wo.pixel_scale = so.pixel_scale;
  wo.survey = "synthetic";
  wo.fields = {{"ebv", skyssl::data::field_type::f32}};
  skyssl::data::archive_writer w(wo);
  const std::size_t per = 3 * static_cast<std::size_t>(size) * size;
  std::vector<float> img(per * 64), scratch;
  std::vector<float> ebv(64);
  for (std::int64_t s = 0; s < count; s += 64) {
    const std::int64_t n = std::min<std::int64_t>(64, count - s);
    for (std::int64_t k = 0; k < n; ++k) {
      const auto g = skyssl::data::draw_galaxy(so, s + k);
      skyssl::data::render_galaxy(so, g, img.data() + k * per, scratch);
      ebv[static_cast<std::size_t>(k)] = g.ebv;
    }
    w.write_images(s, n, img.data());
    w.write_field("ebv", s, n, ebv.data());
  }
  w.close();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shard reader vs pread vs h5py: random-batch read throughput"};
  std::string archive_path, python = "/usr/bin/python3";
  std::int64_t count = 4096, batch = 256, steps = 16;
  int size = 64, prefetch = 2;
  app.add_option("--archive", archive_path,
                 "existing single-file archive (else one is synthesised)");
  app.add_option("--count", count, "galaxies to synthesise")->capture_default_str();
  app.add_option("--size", size, "synthesised image size")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--steps", steps, "batches per measurement")->capture_default_str();
  app.add_option("--prefetch", prefetch, "shard reader prefetch depth")->capture_default_str();
  app.add_option("--python", python, "python with h5py")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto work = fs::temp_directory_path() / fmt::format("skyssl-bench-reader-{}", getpid());
    fs::create_directories(work);
    if (archive_path.empty()) {
      archive_path = (work / "bench.h5").string();
      const auto t0 = clk::now();
      synthesise(archive_path, count, size);
      fmt::print("synthesised {} galaxies 3x{}x{} in {:.1f} s -> {}\n", count, size, size,
                 seconds_since(t0), archive_path);
    }
    skyssl::data::archive_options ao;
    ao.paths = {archive_path};
    skyssl::data::reader_options ro;
    ro.prefetch = prefetch;
    skyssl::data::shard_reader reader(ao, ro, 7, batch, 0, 1);
    const auto& ar = reader.source();
    steps = std::min(steps, reader.steps_per_epoch());
    const std::int64_t pix = static_cast<std::int64_t>(ar.channels()) * ar.height() * ar.width();
    const double mb = static_cast<double>(steps * batch * pix * 4) / 1e6;
    const skyssl::data::epoch_plan plan(7, 0, ar.size(), batch);

    // The region of `images` in the file (contiguous layout; chunked/compressed files can't).
    haddr_t offset;
    std::string dtype = ar.files()[0].image_dtype;
    {
      const hid_t f = H5Fopen(archive_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      const hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
      offset = H5Dget_offset(d);
      H5Dclose(d);
      H5Fclose(f);
    }
    if (offset == HADDR_UNDEF || dtype != "float32")
      throw std::runtime_error(
          "the archive's images must be contiguous float32 for the pread baseline");
    {
      // Warm the page cache so every method reads from memory alike.
      std::ifstream in(archive_path, std::ios::binary);
      std::vector<char> buf(1 << 24);
      while (in.read(buf.data(), static_cast<std::streamsize>(buf.size()))) {
      }
    }
    // 1. POSIX pread: per batch, sort ids, one pread per run of neighbours, then copy into
    //    batch order (what the reader does, minus HDF5, threads and checks).
    const int fd = ::open(archive_path.c_str(), O_RDONLY);
    std::vector<float> staging(static_cast<std::size_t>(batch * pix)), out(staging.size());
    double sum_pread = 0;
    auto t0 = clk::now();
    for (std::int64_t s = 0; s < steps; ++s) {
      auto ids = plan.global_ids(s);
      std::vector<std::int64_t> order(ids.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ids[a] < ids[b]; });
      std::size_t k = 0;
      while (k < order.size()) {
        std::size_t e = k + 1;
        while (e < order.size() && ids[order[e]] == ids[order[e - 1]] + 1) ++e;
        const std::size_t bytes = (e - k) * static_cast<std::size_t>(pix) * 4;
        const off_t at = static_cast<off_t>(offset + static_cast<haddr_t>(ids[order[k]] * pix * 4));
        if (::pread(fd, staging.data() + k * pix, bytes, at) != static_cast<ssize_t>(bytes))
          throw std::runtime_error("short pread");
        k = e;
      }
      for (std::size_t j = 0; j < order.size(); ++j)
        std::copy_n(staging.data() + j * pix, pix, out.data() + order[j] * pix);
      sum_pread += out[0];
    }
    const double t_pread = seconds_since(t0);
    ::close(fd);
    // 2. The shard reader (prefetch thread, HDF5 hyperslab-union reads, NaN check).
    reader.start(0, 0);
    t0 = clk::now();
    double sum_reader = 0;
    for (std::int64_t s = 0; s < steps; ++s)
      sum_reader += reader.next().images.data_ptr<float>()[0];
    const double t_reader = seconds_since(t0);
    // 3. h5py: same ids, written for the script.
    const auto ids_path = work / "ids.bin";
    {
      std::ofstream o(ids_path, std::ios::binary);
      for (std::int64_t s = 0; s < steps; ++s) {
        const auto ids = plan.global_ids(s);
        o.write(reinterpret_cast<const char*>(ids.data()),
                static_cast<std::streamsize>(ids.size() * 8));
      }
    }
    const fs::path script = fs::path(SKYSSL_BENCH_DIR) / "reader_bench.py";
    const auto py_out = work / "h5py.txt";
    const std::string cmd = fmt::format("{} {} {} {} {} > {}", python, script.string(),
                                        archive_path, ids_path.string(), batch, py_out.string());
    double t_h5py = -1;
    if (std::system(cmd.c_str()) == 0) {
      std::ifstream in(py_out);
      in >> t_h5py;
    }
    const double n_img = static_cast<double>(steps * batch);
    fmt::print(
        "archive {}: {} x {}x{}x{} float32; {} random batches of {} ({:.1f} MB), page cache warm\n",
        archive_path, ar.size(), ar.channels(), ar.height(), ar.width(), steps, batch, mb);
    auto line = [&](const char* name, double t) {
      fmt::print("  {:<22} {:8.3f} s  {:9.1f} MB/s  {:10.1f} images/s\n", name, t, mb / t,
                 n_img / t);
    };
    line("shard_reader", t_reader);
    line("POSIX pread", t_pread);
    if (t_h5py > 0) line("h5py", t_h5py);
    fmt::print("ratios: shard_reader / pread = {:.2f}x", t_pread / t_reader);
    if (t_h5py > 0) fmt::print(", shard_reader / h5py = {:.2f}x", t_h5py / t_reader);
    fmt::print("  (throughput; > 1 means the shard reader is faster)\n");
    if (sum_pread != sum_pread || sum_reader != sum_reader) fmt::print("(checksums differ)\n");
    fs::remove_all(work);
  } catch (const std::exception& e) {
    fmt::print(stderr, "skyssl-bench-reader: {}\n", e.what());
    return 1;
  }
  return 0;
}
