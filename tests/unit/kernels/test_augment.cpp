// The fused Kokkos kernels against the plain reference, and the properties the trainer relies
// on: exact centre crop, exact 90-degree rotation, flux conservation, noise level,
// determinism per key and independence of the batch composition. Each property is one body
// run in every Kokkos execution space the build enables (exec_spaces.hpp); the last two cases
// test the torch adapter (augment.hpp), which runs in the space of the tensors' device.
#include "tests/support/torch_doctest.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/augment.hpp"
#include "exec_spaces.hpp"
#include "kernels/reference.hpp"
#include "kernels/sample_params.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

using namespace skyssl;
using namespace skyssl::kernels;

namespace {

struct batch {
  torch::Tensor images, ids, ebv, psf;
};

// Galaxies as elliptical Gaussian blobs on a noisy sky, all from Philox (no global RNG).
batch make_batch(int n, int c, int size, std::uint64_t seed, float sky_noise = 0.003f,
                 std::int64_t first_id = 100) {
  batch b;
  b.images = torch::empty({n, c, size, size}, torch::kFloat32);
  b.ids = torch::arange(first_id, first_id + n, torch::kInt64);
  b.ebv = torch::empty({n}, torch::kFloat32);
  b.psf = torch::empty({n, c}, torch::kFloat32);
  float* px = b.images.data_ptr<float>();
  for (int i = 0; i < n; ++i) {
    rng::stream_key k{seed, 0, static_cast<std::uint64_t>(i), 0, rng::user};
    auto u = rng::draw(k, 0);
    const float sx = 1.5f + 3 * rng::to_unit_float(u.v[0]),
                sy = 1.0f + 2 * rng::to_unit_float(u.v[1]);
    const float ang = 3.1f * rng::to_unit_float(u.v[2]);
    b.ebv[i] = 0.1f * rng::to_unit_float(u.v[3]);
    for (int ch = 0; ch < c; ++ch) b.psf[i][ch] = ch == 1 ? NAN : 1.0f + 0.1f * ch;
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const float dy = y - 0.5f * size + 2, dx = x - 0.5f * size;
          const float a = std::cos(ang) * dx + std::sin(ang) * dy;
          const float d = -std::sin(ang) * dx + std::cos(ang) * dy;
          const std::size_t idx = ((static_cast<std::size_t>(i) * c + ch) * size + y) * size + x;
          float z[4];
          noise_block(rng::stream_key{seed, 1, static_cast<std::uint64_t>(i), 0, rng::user},
                      static_cast<std::uint32_t>(idx / 4), z);
          px[idx] = (0.2f + 0.1f * ch) * std::exp(-0.5f * (a * a / (sx * sx) + d * d / (sy * sy))) +
                    sky_noise * z[idx % 4];
        }
  }
  return b;
}

augment_config small_decals(int crop = 32) {
  auto c = augment_config::decals();
  c.input_size = 0;
  c.crop_h = c.crop_w = crop;
  return c;
}

augment_config all_off(augment_config c) {
  c.reddening = c.flips = c.rotation = c.scale = c.blur = c.jitter = c.noise = c.stretch = false;
  return c;
}

reference::image sample_of(const torch::Tensor& t, int i) {
  return reference::from_buffer(t[i].contiguous().data_ptr<float>(), static_cast<int>(t.size(1)),
                                static_cast<int>(t.size(2)), static_cast<int>(t.size(3)));
}

double max_diff(const reference::image& a, const torch::Tensor& t) {
  const float* p = t.data_ptr<float>();
  double m = 0;
  for (std::size_t i = 0; i < a.px.size(); ++i) m = std::max(m, std::fabs(double(a.px[i]) - p[i]));
  return m;
}

template <class Exec>
void check_against_reference(const augment_config& cfg, const batch& b, std::uint64_t seed,
                             std::int64_t epoch, double tol) {
  const two_views v = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, seed, epoch);
  REQUIRE(v.view1.sizes() ==
          torch::IntArrayRef{b.images.size(0), cfg.bands, cfg.crop_h, cfg.crop_w});
  for (int i = 0; i < b.images.size(0); ++i)
    for (int view = 0; view < 2; ++view) {
      const auto ref = reference::augment_view(
          cfg, sample_of(b.images, i), static_cast<std::uint64_t>(b.ids[i].item<std::int64_t>()),
          b.ebv[i].item<float>(), b.psf[i].contiguous().data_ptr<float>(), seed, epoch, view);
      const auto got = (view == 0 ? v.view1 : v.view2)[i].contiguous();
      CAPTURE(i);
      CAPTURE(view);
      CHECK(max_diff(ref, got) < tol);
    }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE(
    "fused kernels equal the plain reference (DECaLS chain, with and without stretch)", Exec,
    vs_reference_decals) {
  const auto b = make_batch(4, 3, 56, 11);
  auto cfg = small_decals(32);
  check_against_reference<Exec>(cfg, b, 5, 2, 2e-5);
  cfg.stretch = false;
  check_against_reference<Exec>(cfg, b, 6, 0, 2e-5);
  cfg.noise_from = noise_source::config;
  cfg.catalogue_noise[0] = 0.002f;
  check_against_reference<Exec>(cfg, b, 6, 1, 2e-5);
}
TEST_CASE_TEMPLATE_APPLY(vs_reference_decals, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE("fused kernels equal the reference with the lognormal E(B-V) draw", Exec,
                          vs_reference_lognormal) {
  auto cfg = small_decals(32);
  cfg.ebv_from = ebv_draw::lognormal;
  check_against_reference<Exec>(cfg, make_batch(4, 3, 56, 16), 5, 2, 2e-5);
}
TEST_CASE_TEMPLATE_APPLY(vs_reference_lognormal, test::exec_spaces);

TEST_CASE("lognormal E(B-V) draws follow scipy's lognorm(0.67306, 0.001146, 0.03338), capped") {
  // The new E(B-V) is recovered from the g-band gain with a zero catalogue value:
  // gain = 10^(-0.4 R_g E). Its empirical CDF must be lognorm's,
  // F(x) = Phi(ln((x - loc) / scale) / shape), within the binomial noise of 20000 draws.
  auto cfg = all_off(small_decals(16));
  cfg.reddening = true;
  cfg.ebv_from = ebv_draw::lognormal;
  cfg.ebv_max = 0.1f;
  const double s = 0.67306, loc = 0.001146, scale = 0.03338;
  const int n = 20000;
  std::vector<double> e(n);
  const float psf[3] = {NAN, NAN, NAN}, noise[3] = {0.01f, 0.01f, 0.01f};
  for (int i = 0; i < n; ++i) {
    const auto p = draw_sample_params(cfg, 24, 24, 3, 0, static_cast<std::uint64_t>(i), 0, 0.0f,
                                      psf, 1, noise);
    e[i] = -std::log10(static_cast<double>(p.gain[0])) / (0.4 * cfg.extinction[0]);
  }
  auto cdf = [&](double x) {
    return 0.5 * std::erfc(-std::log((x - loc) / scale) / s / std::sqrt(2.0));
  };
  for (double x : {0.01, 0.02, 0.0345, 0.05, 0.08}) {
    const double frac =
        std::count_if(e.begin(), e.end(), [&](double v) { return v <= x; }) / double(n);
    CAPTURE(x);
    CHECK(std::fabs(frac - cdf(x)) < 4 * std::sqrt(0.25 / n));
  }
  // The tail above ebv_max lands on ebv_max: P(X > 0.1) = 1 - F(0.1), about 5%.
  const double capped =
      std::count_if(e.begin(), e.end(), [](double v) { return std::fabs(v - 0.1) < 1e-4; }) /
      double(n);
  CHECK(capped > 0.02);
  CHECK(std::fabs(capped - (1.0 - cdf(0.1))) < 4 * std::sqrt(0.25 / n));
  CHECK(*std::max_element(e.begin(), e.end()) < 0.1 + 1e-4);
  CHECK(*std::min_element(e.begin(), e.end()) > loc - 1e-4);
}

TEST_CASE_TEMPLATE_DEFINE(
    "fused kernels equal the reference: SDSS subset, 5 bands, odd sizes and crop % 4 != 0", Exec,
    vs_reference_sdss) {
  auto cfg = augment_config::sdss();
  cfg.input_size = 0;
  cfg.crop_h = 21;
  cfg.crop_w = 30;
  check_against_reference<Exec>(cfg, make_batch(3, 5, 43, 12), 9, 4, 2e-5);
  cfg.blur = cfg.scale = true;  // blur on a non-square, non-multiple-of-4 crop
  check_against_reference<Exec>(cfg, make_batch(2, 5, 43, 13), 9, 5, 2e-5);
}
TEST_CASE_TEMPLATE_APPLY(vs_reference_sdss, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE(
    "fused kernels equal the reference where most samples reflect off the image edge", Exec,
    vs_reference_edges) {
  // Crop as large as the input: rotated, scaled and jittered rows leave the image, so the
  // check-free interior span and the reflecting edge path of each row meet everywhere.
  auto cfg = small_decals(32);
  check_against_reference<Exec>(cfg, make_batch(6, 3, 33, 14), 21, 3, 2e-5);
  cfg.scale_min = cfg.scale_max = 0.5f;  // shrunk: every row crosses both edges
  check_against_reference<Exec>(cfg, make_batch(3, 3, 32, 15), 22, 0, 2e-5);
}
TEST_CASE_TEMPLATE_APPLY(vs_reference_edges, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE("every step off: both views are exactly the centre crop", Exec,
                          all_off_is_centre_crop) {
  const auto b = make_batch(3, 3, 57, 21);  // odd H - h: integer offset (57-32)/2 = 12
  const auto cfg = all_off(small_decals(32));
  const two_views v = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 1, 0);
  const auto crop = b.images.slice(2, 12, 44).slice(3, 12, 44);
  CHECK(torch::equal(v.view1, crop));
  CHECK(torch::equal(v.view2, crop));
  CHECK(torch::equal(test::crop_in<Exec>(cfg, b.images), crop));
}
TEST_CASE_TEMPLATE_APPLY(all_off_is_centre_crop, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE("rotation by 90 and 180 degrees is an exact transpose-flip", Exec,
                          rotation_is_exact) {
  const auto b = make_batch(2, 3, 56, 22);
  auto cfg = all_off(small_decals(32));
  cfg.rotation = true;
  cfg.angle_min = cfg.angle_max = 90;
  const torch::Tensor crop = test::crop_in<Exec>(cfg, b.images);
  const two_views v = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 1, 0);
  // out[y][x] = crop[h-1-x][y]
  CHECK(torch::equal(v.view1, crop.flip({2}).transpose(2, 3)));
  cfg.angle_min = cfg.angle_max = 180;
  const two_views v2 = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 1, 0);
  CHECK(torch::equal(v2.view2, crop.flip({2, 3})));
}
TEST_CASE_TEMPLATE_APPLY(rotation_is_exact, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE("blur conserves flux and widens the profile", Exec, blur_conserves_flux) {
  const auto b = make_batch(3, 3, 64, 23, 0.0f);
  auto cfg = all_off(small_decals(40));
  cfg.blur = true;
  cfg.psf_fwhm_fallback = 0;
  auto psf = torch::full({3, 3}, NAN, torch::kFloat32);
  for (int k = 0; k < 3; ++k) cfg.blur_sigma_min[k] = cfg.blur_sigma_max[k] = 2.0f;
  const torch::Tensor crop = test::crop_in<Exec>(cfg, b.images);
  const two_views v = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, psf, 3, 0);
  const auto f0 = crop.sum({2, 3}), f1 = v.view1.sum({2, 3});
  CHECK(((f1 - f0).abs() / f0).max().item<float>() < 1e-5f);
  CHECK((v.view1.amax({2, 3}) < 0.9 * crop.amax({2, 3})).all().item<bool>());
}
TEST_CASE_TEMPLATE_APPLY(blur_conserves_flux, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE(
    "noise has the requested standard deviation, in quadrature with the image's own", Exec,
    noise_level) {
  auto cfg = all_off(small_decals(32));
  cfg.noise = true;
  for (int k = 0; k < 3; ++k) cfg.noise_sigma_min[k] = cfg.noise_sigma_max[k] = 0.05f;
  // Pure sky with its own noise 0.03: the output must have std sqrt(0.03^2 + 0.04^2) = 0.05.
  batch sky = make_batch(16, 3, 48, 24, 0.03f);
  sky.images = sky.images - make_batch(16, 3, 48, 24, 0.0f).images;  // the same sky, no galaxy
  const two_views v = test::views_in<Exec>(cfg, sky.images, sky.ids, sky.ebv, sky.psf, 8, 0);
  const auto sd = torch::cat({v.view1, v.view2}).transpose(0, 1).reshape({3, -1}).std(1);
  for (int k = 0; k < 3; ++k) CHECK(sd[k].item<float>() == doctest::Approx(0.05).epsilon(0.03));
  // Own noise already above the target: nothing is added.
  cfg.noise_sigma_min[0] = cfg.noise_sigma_max[0] = 0.02f;
  const two_views v2 = test::views_in<Exec>(cfg, sky.images, sky.ids, sky.ebv, sky.psf, 8, 0);
  CHECK(torch::equal(v2.view1[0][0], test::crop_in<Exec>(cfg, sky.images)[0][0]));
  // Added noise alone (no own noise): std = target.
  cfg.noise_from = noise_source::config;
  cfg.noise_sigma_min[0] = cfg.noise_sigma_max[0] = 0.05f;
  const auto zero = torch::zeros_like(sky.images);
  const two_views v3 = test::views_in<Exec>(cfg, zero, sky.ids, sky.ebv, sky.psf, 8, 0);
  CHECK(v3.view1.std().item<float>() == doctest::Approx(0.05).epsilon(0.02));
  CHECK(std::fabs(v3.view1.mean().item<float>()) < 0.002);
}
TEST_CASE_TEMPLATE_APPLY(noise_level, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE(
    "same key gives the same views; seed, epoch, view and id each change them", Exec, views_keyed) {
  const auto b = make_batch(4, 3, 56, 25);
  const auto cfg = small_decals(32);
  const two_views a = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 42, 3);
  const two_views again = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 42, 3);
  CHECK(torch::equal(a.view1, again.view1));
  CHECK(torch::equal(a.view2, again.view2));
  auto differs = [](const torch::Tensor& x, const torch::Tensor& y) {
    return (x - y).abs().amax({1, 2, 3}).gt(1e-4).all().item<bool>();
  };
  CHECK(differs(a.view1, a.view2));
  CHECK(differs(a.view1, test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 43, 3).view1));
  CHECK(differs(a.view1, test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 42, 4).view1));
  CHECK(differs(a.view1,
                test::views_in<Exec>(cfg, b.images, b.ids + 1000, b.ebv, b.psf, 42, 3).view1));
  CHECK(differs(a.view1,
                test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 1ull << 40, 3).view1));
}
TEST_CASE_TEMPLATE_APPLY(views_keyed, test::exec_spaces);

TEST_CASE_TEMPLATE_DEFINE(
    "a sample's views do not depend on the batch: permutation and 2- or 4-way slices", Exec,
    batch_independent) {
  const auto b = make_batch(8, 3, 56, 26);
  const auto cfg = small_decals(32);
  const two_views whole = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 7, 1);
  const auto perm = torch::tensor(std::vector<std::int64_t>{5, 2, 7, 0, 3, 6, 1, 4});
  const auto p =
      test::views_in<Exec>(cfg, b.images.index_select(0, perm), b.ids.index_select(0, perm),
                           b.ebv.index_select(0, perm), b.psf.index_select(0, perm), 7, 1);
  CHECK(torch::equal(p.view1, whole.view1.index_select(0, perm)));
  CHECK(torch::equal(p.view2, whole.view2.index_select(0, perm)));
  for (int ranks : {2, 4}) {
    std::vector<torch::Tensor> v1, v2;
    const int per = 8 / ranks;
    for (int r = 0; r < ranks; ++r) {
      auto s = [&](const torch::Tensor& t) {
        return t.slice(0, r * per, (r + 1) * per).contiguous();
      };
      const two_views part =
          test::views_in<Exec>(cfg, s(b.images), s(b.ids), s(b.ebv), s(b.psf), 7, 1);
      v1.push_back(part.view1);
      v2.push_back(part.view2);
    }
    CAPTURE(ranks);
    CHECK(torch::equal(torch::cat(v1), whole.view1));
    CHECK(torch::equal(torch::cat(v2), whole.view2));
  }
}
TEST_CASE_TEMPLATE_APPLY(batch_independent, test::exec_spaces);

#if defined(KOKKOS_ENABLE_SERIAL)
TEST_CASE_TEMPLATE_DEFINE("every host backend gives Serial's views bit for bit", Exec,
                          host_equals_serial) {
  auto sdss = augment_config::sdss();
  sdss.input_size = 0;
  sdss.crop_h = 21;
  sdss.crop_w = 30;
  sdss.blur = sdss.scale = true;
  // 9 and 7 samples: uneven splits over the threads.
  for (const auto& [cfg, b] : {std::pair{small_decals(32), make_batch(9, 3, 56, 27)},
                               std::pair{sdss, make_batch(7, 5, 43, 28)}}) {
    const two_views serial =
        test::views_in<Kokkos::Serial>(cfg, b.images, b.ids, b.ebv, b.psf, 13, 2);
    const two_views got = test::views_in<Exec>(cfg, b.images, b.ids, b.ebv, b.psf, 13, 2);
    CAPTURE(Exec::name());
    CAPTURE(cfg.bands);
    CHECK(torch::equal(got.view1, serial.view1));
    CHECK(torch::equal(got.view2, serial.view2));
  }
}
TEST_CASE_TEMPLATE_APPLY(host_equals_serial, test::host_exec_spaces);
#endif

TEST_CASE("tensor checks name the argument at fault") {
  const auto b = make_batch(2, 3, 56, 27);
  const auto cfg = small_decals(32);
  CHECK_THROWS_WITH_AS(
      augment_two_views(cfg, b.images.to(torch::kFloat64), b.ids, b.ebv, b.psf, 1, 0),
      doctest::Contains("images has dtype"), data_error);
  CHECK_THROWS_WITH_AS(augment_two_views(cfg, b.images.transpose(2, 3), b.ids, b.ebv, b.psf, 1, 0),
                       doctest::Contains("not contiguous"), data_error);
  CHECK_THROWS_WITH_AS(
      augment_two_views(cfg, b.images, b.ids.to(torch::kInt32), b.ebv, b.psf, 1, 0),
      doctest::Contains("ids"), data_error);
  CHECK_THROWS_WITH_AS(
      augment_two_views(cfg, b.images.slice(1, 0, 2).contiguous(), b.ids, b.ebv, b.psf, 1, 0),
      doctest::Contains("channels"), data_error);
  CHECK_THROWS_WITH_AS(augment_two_views(cfg, b.images, b.ids.slice(0, 0, 1), b.ebv, b.psf, 1, 0),
                       doctest::Contains("ids (1)"), data_error);
  const two_views wrong{torch::empty({2, 3, 31, 32}), torch::empty({2, 3, 32, 32})};
  CHECK_THROWS_WITH_AS(augment_two_views_into(cfg, b.images, b.ids, b.ebv, b.psf, 1, 0, wrong),
                       doctest::Contains("output views must be 2x3x32x32"), data_error);
}

TEST_CASE("into caller-owned outputs: the same views, whatever the buffers held before") {
  const auto b = make_batch(3, 3, 56, 28);
  const auto cfg = small_decals(32);
  const auto fresh = augment_two_views(cfg, b.images, b.ids, b.ebv, b.psf, 4, 1);
  const two_views dirty{torch::full({3, 3, 32, 32}, NAN), torch::full({3, 3, 32, 32}, 7.0f)};
  augment_two_views_into(cfg, b.images, b.ids, b.ebv, b.psf, 4, 1, dirty);
  CHECK(torch::equal(dirty.view1, fresh.view1));
  CHECK(torch::equal(dirty.view2, fresh.view2));
  // Host tensors run in the host execution space (whatever the default space of the build),
  // the same kernels as the execution-space bodies above, zero copy.
  const auto direct =
      test::views_in<Kokkos::DefaultHostExecutionSpace>(cfg, b.images, b.ids, b.ebv, b.psf, 4, 1);
  CHECK(torch::equal(direct.view1, fresh.view1));
  CHECK(torch::equal(direct.view2, fresh.view2));
}

TEST_CASE("the adapter dispatches on the tensors' device and names what it cannot run") {
  const auto b = make_batch(2, 3, 40, 29);
  const auto cfg = small_decals(32);
  // A device no Kokkos space of this build serves (meta tensors carry no data at all).
  const auto meta = torch::empty({2, 3, 40, 40}, torch::TensorOptions().device(torch::kMeta));
  CHECK_THROWS_WITH_AS(augment_two_views(cfg, meta, b.ids, b.ebv, b.psf, 1, 0),
                       doctest::Contains("images are on meta but this build runs the kernels on"),
                       data_error);
  CHECK_THROWS_WITH_AS(center_crop(cfg, meta), doctest::Contains("images are on meta"), data_error);
  // Every tensor of a call on the images' device: host images with a meta id tensor.
  const auto meta_ids =
      torch::empty({2}, torch::TensorOptions().dtype(torch::kInt64).device(torch::kMeta));
  CHECK_THROWS_WITH_AS(augment_two_views(cfg, b.images, meta_ids, b.ebv, b.psf, 1, 0),
                       doctest::Contains("augment: ids is on meta"), data_error);
  // Host tensors: the host space; without the stretch the centre crop is the exact window.
  const auto c = center_crop(all_off(cfg), b.images);
  CHECK(c.device().is_cpu());
  CHECK(torch::equal(c, b.images.narrow(2, 4, 32).narrow(3, 4, 32).contiguous()));
}
