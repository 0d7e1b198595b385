// skyssl-prep inspect, scan and gallery take the same --preset/--config/--set as skyssl-train,
// so a cutout file without attributes (bands, pixel scale) is described once, the same way
// everywhere; the error that asks for a key names a flag the tool has.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/test_paths.hpp"
#include "tests/support/run_command.hpp"

namespace fs = std::filesystem;

namespace {

struct result {
  int rc;
  std::string output;
};

result run(const std::string& args, const fs::path& log) {
  const auto cmd =
      fmt::format("{} {}", (skyssl::test::binary_dir() / "apps/prep/skyssl-prep").string(), args);
  MESSAGE(cmd);
  const auto r = skyssl::test::run_command(cmd, log);
  return {r.code(), r.output};
}

// An archive as a user's own cutout code writes it: images only, no attributes.
fs::path bare_archive(const fs::path& dir, int bands, int size) {
  const auto path = dir / fmt::format("bare{}.h5", bands);
  const auto cmd = fmt::format(
      "{} -c \"import h5py, numpy as np; rng = np.random.default_rng(1); "
      "f = h5py.File('{}', 'w'); "
      "f['images'] = (rng.standard_normal((64, {}, {}, {})) * 0.01 + 0.05).astype('float32')\"",
      skyssl::test::python(), path.string(), bands, size, size);
  REQUIRE(skyssl::test::run_command(cmd).status == 0);
  return path;
}

}  // namespace

TEST_CASE("inspect: a file without attributes is described by --set or --config") {
  const auto dir = skyssl::test::tmp_dir("prep_config");
  const auto four = bare_archive(dir, 4, 32).string();
  auto r = run("inspect " + four, dir / "plain.log");
  CHECK(r.rc != 0);
  CHECK(r.output.find("no 'bands' attribute and 4 channels; set data.bands (e.g. --set") !=
        std::string::npos);

  r = run(fmt::format("inspect {} --set 'data.bands=[\"u\",\"g\",\"r\",\"i\"]' "
                      "--set data.pixel_scale=0.2",
                      four),
          dir / "set.log");
  CHECK(r.rc == 0);
  CHECK(r.output.find("bands: u g r i  pixel_scale: 0.2 arcsec/px") != std::string::npos);

  const auto cfg = dir / "cutouts.toml";
  std::ofstream(cfg) << fmt::format(
      "[data]\npath = \"{}\"\nbands = [\"u\", \"g\", \"r\", \"i\"]\npixel_scale = 0.4\n", four);
  r = run(fmt::format("inspect --config {}", cfg.string()), dir / "config.log");
  CHECK(r.rc == 0);
  CHECK(r.output.find("bands: u g r i  pixel_scale: 0.4 arcsec/px") != std::string::npos);
  // --set wins over --config, which wins over --preset.
  r = run(fmt::format("inspect --preset sdss --config {} --set data.pixel_scale=0.5", cfg.string()),
          dir / "layers.log");
  CHECK(r.rc == 0);
  CHECK(r.output.find("pixel_scale: 0.5 arcsec/px") != std::string::npos);
  // A typo is refused, naming the key.
  r = run(fmt::format("inspect {} --set data.pixle_scale=0.2", four), dir / "typo.log");
  CHECK(r.rc != 0);
  CHECK(r.output.find("data.pixle_scale") != std::string::npos);
}

TEST_CASE("scan and gallery take the same flags") {
  const auto dir = skyssl::test::tmp_dir("prep_config");
  const auto three = bare_archive(dir, 3, 48).string();
  auto r =
      run(fmt::format("scan --set data.path='\"{}\"' --set data.pixel_scale=0.3 --batch 16", three),
          dir / "scan.log");
  CHECK(r.rc == 0);
  CHECK(r.output.find("scan: 64 samples, global batch 16") != std::string::npos);
  const auto png = dir / "gallery.png";
  fs::remove(png);
  r = run(
      fmt::format("gallery --set data.path='\"{}\"' --set data.pixel_scale=0.3 --out {} "
                  "--set augment.input_size=48 --set augment.crop=32 --set augment.jitter_max=2",
                  three, png.string()),
      dir / "gallery.log");
  CHECK(r.rc == 0);
  CHECK(fs::exists(png));
  r = run("gallery --out x.png", dir / "gallery_none.log");
  CHECK(r.rc != 0);
  CHECK(r.output.find("pass --archive, or set data.path") != std::string::npos);
}
