// Direct reads (pread at the offsets HDF5 reports) against HDF5's own selections, which serve
// as the independent reference: identical bytes for contiguous and chunked layouts, float32,
// float16 and uint16 images, unwritten chunks, compressed data (which must fall back, saying
// why), files of an archive read as one; read threads that do not change a batch; and the
// data.nonfinite policies on one rank; an archive of hundreds of files.
#include <hdf5.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "layouts.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/detail/decode.hpp"
#include "skyssl/data/epoch_plan.hpp"
#include "skyssl/data/nonfinite_scan.hpp"
#include "skyssl/data/shard_reader.hpp"
#include "tests/support/test_paths.hpp"

// Last: torch pulls in glog, whose CHECK must not shadow doctest's.
#include <doctest/doctest.h>

using skyssl::data::archive;
using skyssl::data::archive_options;
using skyssl::test::layout_spec;
using skyssl::test::pixel_kind;
namespace fs = std::filesystem;

namespace {

// Three files of 13, 7 and 17 rows in one layout.
archive_options three_files(const std::string& tag, const layout_spec& s) {
  const auto dir = skyssl::test::tmp_dir("direct_" + tag);
  skyssl::test::write_layout_archive((dir / "p0.h5").string(), 0, 13, s);
  skyssl::test::write_layout_archive((dir / "p1.h5").string(), 13, 7, s);
  skyssl::test::write_layout_archive((dir / "p2.h5").string(), 20, 17, s);
  archive_options o;
  o.paths = {(dir / "p*.h5").string()};
  return o;
}

}  // namespace

TEST_CASE("float16 decoding matches HDF5's conversion for all 65536 patterns") {
  std::vector<std::uint16_t> bits(65536);
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::uint16_t>(i);
  std::vector<float> ref(65536);
  std::memcpy(ref.data(), bits.data(), bits.size() * 2);  // H5Tconvert works in place
  const hid_t half = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(half, 15, 10, 5, 0, 10);
  H5Tset_size(half, 2);
  H5Tset_ebias(half, 15);
  REQUIRE(H5Tconvert(half, H5T_NATIVE_FLOAT, 65536, ref.data(), nullptr, H5P_DEFAULT) >= 0);
  H5Tclose(half);
  int nan = 0;
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const float ours = skyssl::data::detail::half_to_float(bits[i]);
    if (std::isnan(ref[i])) {
      CHECK(std::isnan(ours));
      ++nan;
    } else {
      INFO("pattern ", i);
      REQUIRE(std::memcmp(&ours, &ref[i], 4) == 0);
    }
  }
  CHECK(nan == 2 * 1023);
  // The fused check counts (and with zeroing replaces) exactly the Inf/NaN patterns.
  std::vector<float> out(65536);
  std::int64_t first = -2;
  CHECK(skyssl::data::detail::decode_pixels(bits.data(), skyssl::data::detail::stored_type::f16,
                                            out.data(), out.size(), true, &first) == 2 * 1024);
  CHECK(first == 0x7c00);
  for (float v : out) REQUIRE(std::isfinite(v));
}

TEST_CASE("direct reads and HDF5 selections return identical bytes") {
  struct variant {
    const char* tag;
    layout_spec spec;
    const char* read;  // expected files()[i].images_read
  };
  const std::vector<variant> variants = {
      {"contig_f32", {pixel_kind::f32, 0, 0, -1}, "direct (contiguous)"},
      {"contig_f16", {pixel_kind::f16, 0, 0, -1}, "direct (contiguous)"},
      {"contig_u16", {pixel_kind::u16, 0, 0, -1}, "direct (contiguous)"},
      {"chunk_f32", {pixel_kind::f32, 4, 0, -1}, "direct (chunks of 4 rows)"},
      {"chunk_f16", {pixel_kind::f16, 3, 0, -1}, "direct (chunks of 3 rows)"},
      {"chunk_u16", {pixel_kind::u16, 5, 0, -1}, "direct (chunks of 5 rows)"},
      {"sparse_f32", {pixel_kind::f32, 4, 0, 5}, "direct (chunks of 4 rows)"},
      {"gzip_f32",
       {pixel_kind::f32, 4, 1, -1},
       "HDF5 selections: dataset 'images': it is filtered (deflate)"},
  };
  for (const auto& v : variants) {
    INFO("layout ", v.tag);
    auto o = three_files(v.tag, v.spec);
    const archive direct(o);
    o.direct_reads = false;
    const archive hdf5(o);
    REQUIRE(direct.size() == 37);
    for (const auto& f : direct.files()) CHECK(f.images_read == v.read);
    for (const auto& f : hdf5.files())
      CHECK(f.images_read == "HDF5 selections: data.direct_reads = false");
    const std::size_t pix = 3 * 4 * 5;
    std::vector<float> a(37 * pix), b(37 * pix);
    direct.read_images(0, 37, a.data());
    hdf5.read_images(0, 37, b.data());
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    // Independent values where the rows were written: f32 by formula, 16-bit by pattern.
    for (std::int64_t id : {0, 4, 12, 13, 19, 20, 36}) {
      const std::int64_t local = id < 13 ? id : id < 20 ? id - 13 : id - 20;
      const bool written = v.spec.written < 0 || local < v.spec.written;
      const float got = a[static_cast<std::size_t>(id) * pix + 1 * 20 + 2 * 5 + 3];
      float want = 0.0f;  // HDF5's fill value for unwritten chunks
      if (written) {
        if (v.spec.kind == pixel_kind::f32)
          want = skyssl::test::f32_value(id, 1, 2, 3);
        else if (v.spec.kind == pixel_kind::u16)
          want = skyssl::test::bits16(pixel_kind::u16, id, 1, 2, 3);
        else
          want = skyssl::data::detail::half_to_float(
              skyssl::test::bits16(pixel_kind::f16, id, 1, 2, 3));
      }
      INFO("id ", id);
      CHECK(got == want);
    }
    // Scattered rows across file and chunk boundaries, to scattered destinations.
    const std::vector<std::int64_t> rows = {0,  1,  2,  3,  4,  5,  11, 12,
                                            13, 14, 19, 20, 21, 27, 35, 36};
    std::vector<float> c(rows.size() * pix, -1.0f), d(rows.size() * pix, -1.0f);
    std::vector<float*> dc, dd;
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const std::size_t slot = (k * 7) % rows.size();  // a permutation (7 is prime to 16)
      dc.push_back(c.data() + slot * pix);
      dd.push_back(d.data() + slot * pix);
    }
    direct.read_images_into(rows.data(), rows.size(), dc.data(), false);
    hdf5.read_images_into(rows.data(), rows.size(), dd.data(), false);
    REQUIRE(std::memcmp(c.data(), d.data(), c.size() * 4) == 0);
    for (std::size_t k = 0; k < rows.size(); ++k)
      REQUIRE(std::memcmp(dc[k], a.data() + rows[k] * static_cast<std::int64_t>(pix), pix * 4) ==
              0);
    // Fields, every stored type, by both paths and by formula.
    for (const char* field : {"ebv", "z", "objid"}) {
      std::vector<double> x(rows.size()), y(rows.size());
      direct.read_column_rows(field, rows, x.data());
      hdf5.read_column_rows(field, rows, y.data());
      REQUIRE(std::memcmp(x.data(), y.data(), x.size() * 8) == 0);
    }
    std::vector<double> ids(rows.size());
    direct.read_column_rows("objid", rows, ids.data());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const std::int64_t local = rows[k] < 13   ? rows[k]
                                 : rows[k] < 20 ? rows[k] - 13
                                                : rows[k] - 20;
      const bool written = v.spec.written < 0 || local < v.spec.written;
      CHECK(ids[k] == (written ? static_cast<double>(rows[k] * 7 + 3) : 0.0));
    }
  }
}

TEST_CASE("read threads do not change a batch") {
  const auto o = three_files("threads", {pixel_kind::f16, 0, 0, -1});
  skyssl::data::reader_options one, four;
  one.read_threads = 1;
  four.read_threads = 4;
  skyssl::data::shard_reader a(o, one, 9, 12, 0, 1), b(o, four, 9, 12, 0, 1);
  for (int s = 0; s < 6; ++s) {  // two epochs of 3 steps
    const auto x = a.next(), y = b.next();
    REQUIRE(torch::equal(x.ids, y.ids));
    REQUIRE(torch::equal(x.images, y.images));
    REQUIRE(torch::equal(x.ebv, y.ebv));
  }
}

TEST_CASE("data.nonfinite: error names the pixel, zero counts and replaces, skip leaves out") {
  const auto dir = skyssl::test::tmp_dir("nonfinite_policies");
  const layout_spec spec{pixel_kind::f16, 0, 0, -1};
  skyssl::test::write_layout_archive((dir / "a.h5").string(), 0, 20, spec);
  skyssl::test::write_layout_archive((dir / "b.h5").string(), 20, 20, spec);
  skyssl::test::poison_pixel((dir / "a.h5").string(), 3, 2, 1, 4,
                             std::numeric_limits<float>::infinity());
  skyssl::test::poison_pixel((dir / "b.h5").string(), 5, 0, 0, 0, std::nanf(""));
  skyssl::test::poison_pixel((dir / "b.h5").string(), 5, 1, 3, 3, std::nanf(""));
  archive_options o;
  o.paths = {(dir / "a.h5").string(), (dir / "b.h5").string()};

  skyssl::data::reader_options r;
  skyssl::data::shard_reader strict(o, r, 1, 40, 0, 1);  // one batch: all 40 samples
  CHECK_THROWS_WITH_AS(strict.next(),
                       doctest::Contains("a.h5', dataset 'images': sample 3 (global id 3) has a "
                                         "Inf pixel (band z, y 1, x 4); --set data.nonfinite=zero"),
                       skyssl::data_error);

  r.nonfinite = skyssl::data::nonfinite_policy::zero;
  skyssl::data::shard_reader zero(o, r, 1, 40, 0, 1);
  const auto b = zero.next();
  CHECK(b.nonfinite_pixels == 3);
  CHECK(torch::isfinite(b.images).all().item<bool>());
  for (std::int64_t k = 0; k < 40; ++k)
    if (b.ids[k].item<std::int64_t>() == 3) CHECK(b.images[k][2][1][4].item<float>() == 0.0f);

  r.nonfinite = skyssl::data::nonfinite_policy::skip;
  skyssl::data::shard_reader skip(o, r, 1, 8, 0, 1);
  CHECK(skip.skipped() == std::vector<std::int64_t>{3, 25});
  CHECK(skip.samples() == 38);
  CHECK(skip.steps_per_epoch() == 4);  // 38 / 8
  // The plan over the 38 kept ids, computed here independently.
  std::vector<std::int64_t> kept;
  for (std::int64_t i = 0; i < 40; ++i)
    if (i != 3 && i != 25) kept.push_back(i);
  for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
    const skyssl::data::epoch_plan plan(1, epoch, 38, 8);
    for (std::int64_t s = 0; s < 4; ++s) {
      const auto batch = skip.next();
      CHECK(batch.nonfinite_pixels == 0);
      const auto pos = plan.global_ids(s);
      for (std::int64_t k = 0; k < 8; ++k)
        REQUIRE(batch.ids[k].item<std::int64_t>() ==
                kept[static_cast<std::size_t>(pos[static_cast<std::size_t>(k)])]);
      REQUIRE(torch::isfinite(batch.images).all().item<bool>());
    }
  }
}

TEST_CASE("kept_rows maps positions past the excluded rows") {
  const skyssl::data::kept_rows k(10, {0, 1, 4, 9});
  CHECK(k.kept() == 6);
  std::vector<std::int64_t> got;
  for (std::int64_t p = 0; p < k.kept(); ++p) got.push_back(k.id(p));
  CHECK(got == std::vector<std::int64_t>{2, 3, 5, 6, 7, 8});
  CHECK_THROWS_AS(k.id(6), skyssl::data_error);
  CHECK_THROWS_AS(skyssl::data::kept_rows(5, {3, 2}), skyssl::data_error);
}

TEST_CASE("an archive of 300 files: one descriptor per file, rows exact across every boundary") {
  const auto dir = skyssl::test::tmp_dir("many_files");
  std::ofstream list(dir / "train.txt");
  list << "# 300 files of 3 rows, by relative path\n";
  for (int i = 0; i < 300; ++i) {
    const auto name = fmt::format("s{:03}.h5", i);
    skyssl::test::write_test_archive((dir / name).string(), 3 * i, 3);
    list << name << "\n";
  }
  list.close();
  auto open_fds = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  };
  const auto before = open_fds();
  archive_options o;
  o.paths = {"@" + (dir / "train.txt").string()};
  const archive ar(o);
  const auto held = open_fds() - before;
  CHECK(ar.files().size() == 300);
  CHECK(ar.size() == 900);
  // HDF5's own descriptor is closed once a file is known to be read directly: 300, not 600.
  CHECK(held >= 300);
  CHECK(held < 310);
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 1; r < 900; r += 4) rows.push_back(r);
  std::vector<float> px(rows.size() * 60);
  ar.read_images_rows(rows, px.data());
  for (std::size_t k = 0; k < rows.size(); ++k)
    REQUIRE(px[k * 60 + 2 * 20 + 3 * 5 + 4] == skyssl::test::pixel_value(rows[k], 2, 3, 4));
  std::vector<double> ebv(rows.size());
  ar.read_column_rows("ebv", rows, ebv.data());
  for (std::size_t k = 0; k < rows.size(); ++k)
    CHECK(ebv[k] == doctest::Approx(0.001 * static_cast<double>(rows[k])));
}
