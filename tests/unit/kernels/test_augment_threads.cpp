// augment.threads: sub-batches augmented on several host threads (augment_threads.hpp) give
// views bit-identical to the single-threaded Kokkos dispatch, and both match the plain
// reference; the pool survives many batches, uneven splits, tiny batches and errors.
#include "tests/support/torch_doctest.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <cmath>
#include <set>
#include <stdexcept>
#include <thread>

#include "kernels/augment.hpp"
#include "kernels/augment_threads.hpp"
#include "kernels/reference.hpp"
#include "kernels/serial_team.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

using namespace skyssl;
using namespace skyssl::kernels;

namespace {

// Smooth blobs plus Philox noise: every pixel differs, so a view computed from the wrong
// sample or with other parameters cannot agree by chance.
struct blob_batch {
  torch::Tensor images, ids, ebv, psf;
};
blob_batch make_blob_batch(int n, int c, int size, std::uint64_t seed) {
  blob_batch b;
  b.images = torch::empty({n, c, size, size}, torch::kFloat32);
  b.ids = torch::arange(1000, 1000 + n, torch::kInt64) * 7;
  b.ebv = torch::empty({n}, torch::kFloat32);
  b.psf = torch::full({n, c}, 1.1f, torch::kFloat32);
  float* px = b.images.data_ptr<float>();
  for (int i = 0; i < n; ++i) {
    b.ebv[i] = 0.02f * static_cast<float>(i % 5);
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const std::size_t idx = ((static_cast<std::size_t>(i) * c + ch) * size + y) * size + x;
          float z[4];
          noise_block(rng::stream_key{seed, 3, static_cast<std::uint64_t>(i), 0, rng::user},
                      static_cast<std::uint32_t>(idx / 4), z);
          const float dy = static_cast<float>(y) - 0.5f * size,
                      dx = static_cast<float>(x) - 0.4f * size;
          px[idx] = (0.3f + 0.05f * ch) * std::exp(-(dx * dx + dy * dy) / (20.0f + i)) +
                    0.004f * z[idx % 4];
        }
  }
  return b;
}

augment_config small(int crop = 24) {
  auto c = augment_config::decals();
  c.input_size = 0;
  c.crop_h = c.crop_w = crop;
  return c;
}

bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && std::memcmp(a.data_ptr<float>(), b.data_ptr<float>(),
                                               static_cast<std::size_t>(a.nbytes())) == 0;
}

}  // namespace

TEST_CASE("augment.threads: 1, 2 and 3 threads give the single-thread views bit for bit") {
  const auto b = make_blob_batch(7, 3, 44, 21);  // 7 samples: uneven splits for 2 and 3 threads
  for (const bool stretch : {true, false}) {
    auto cfg = small();
    cfg.stretch = stretch;
    const auto plain = augment_two_views(cfg, b.images, b.ids, b.ebv, b.psf, 9, 3);
    // The single-threaded dispatch itself agrees with the plain reference (independent code).
    for (int i = 0; i < 7; ++i)
      for (int view = 0; view < 2; ++view) {
        const auto ref = reference::augment_view(
            cfg, reference::from_buffer(b.images[i].contiguous().data_ptr<float>(), 3, 44, 44),
            static_cast<std::uint64_t>(b.ids[i].item<std::int64_t>()), b.ebv[i].item<float>(),
            b.psf[i].contiguous().data_ptr<float>(), 9, 3, view);
        const auto got = (view == 0 ? plain.view1 : plain.view2)[i].contiguous();
        double m = 0;
        for (std::size_t k = 0; k < ref.px.size(); ++k)
          m = std::max(m, std::fabs(double(ref.px[k]) - got.data_ptr<float>()[k]));
        CAPTURE(i);
        CHECK(m < 2e-5);
      }
    for (int n : {1, 2, 3}) {
      CAPTURE(n);
      CAPTURE(stretch);
      augment_threads pool(n);
      REQUIRE(pool.size() == n);
      // Several batches through the same pool, into outputs that held other values.
      for (int rep = 0; rep < 3; ++rep) {
        const auto out = augment_two_views(cfg, b.images, b.ids, b.ebv, b.psf, 9, 3, pool);
        CHECK(bit_equal(out.view1, plain.view1));
        CHECK(bit_equal(out.view2, plain.view2));
        two_views into{torch::full_like(plain.view1, 7.0f), torch::full_like(plain.view2, -1.0f)};
        augment_two_views_into(cfg, b.images, b.ids, b.ebv, b.psf, 9, 3, into, pool);
        CHECK(bit_equal(into.view1, plain.view1));
        CHECK(bit_equal(into.view2, plain.view2));
      }
      // Fewer samples than threads, and an empty batch.
      const auto one = augment_two_views(cfg, b.images.narrow(0, 2, 1), b.ids.narrow(0, 2, 1),
                                         b.ebv.narrow(0, 2, 1), b.psf.narrow(0, 2, 1), 9, 3, pool);
      CHECK(bit_equal(one.view1, plain.view1.narrow(0, 2, 1).contiguous()));
      const auto none = augment_two_views(cfg, b.images.narrow(0, 0, 0), b.ids.narrow(0, 0, 0),
                                          b.ebv.narrow(0, 0, 0), b.psf.narrow(0, 0, 0), 9, 3, pool);
      CHECK(none.view1.size(0) == 0);
    }
  }
}

TEST_CASE("augment_threads: contiguous ranges on distinct threads, errors rethrown, reusable") {
  augment_threads pool(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  pool.for_ranges(10, [&](serial_team&, std::int64_t lo, std::int64_t hi) {
    std::lock_guard<std::mutex> lk(mu);
    ids.insert(std::this_thread::get_id());
    ranges.emplace_back(lo, hi);
  });
  std::sort(ranges.begin(), ranges.end());
  CHECK(ranges == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 3}, {3, 6}, {6, 10}});
  CHECK(ids.size() == 3);
  CHECK(ids.count(std::this_thread::get_id()) == 1);  // the caller takes a range
  CHECK_THROWS_WITH_AS(pool.for_ranges(3,
                                       [&](serial_team&, std::int64_t lo, std::int64_t) {
                                         if (lo == 2) throw std::runtime_error("range 2 failed");
                                       }),
                       "range 2 failed", std::runtime_error);
  std::atomic<std::int64_t> covered{0};
  pool.for_ranges(100, [&](serial_team&, std::int64_t lo, std::int64_t hi) { covered += hi - lo; });
  CHECK(covered == 100);
  CHECK_THROWS_AS(augment_threads(0), std::invalid_argument);
}

TEST_CASE("augment.threads: parsed, default 1, refused below 1 and above the usable CPUs") {
  const auto parse = [](const std::string& toml) {
    return augment_config_from(config::from_string(toml, "test"), "augment");
  };
  CHECK(parse("").threads == 1);
  CHECK(parse("[augment]\nthreads = 1\n").threads == 1);
  CHECK(usable_cores() >= 1);
  CHECK(parse("[augment]\nthreads = " + std::to_string(usable_cores()) + "\n").threads ==
        usable_cores());
  CHECK_THROWS_WITH_AS(parse("[augment]\nthreads = 0\n"), doctest::Contains("augment.threads"),
                       config_error);
  CHECK_THROWS_WITH_AS(parse("[augment]\nthreads = -2\n"), doctest::Contains("augment.threads"),
                       config_error);
  const auto too_many = std::to_string(usable_cores() + 1);
  const std::string named = "augment.threads = " + too_many;
  CHECK_THROWS_WITH_AS(parse("[augment]\nthreads = " + too_many + "\n"),
                       doctest::Contains(named.c_str()), config_error);
  CHECK_THROWS_WITH_AS(parse("[augment]\nthreads = " + too_many + "\n"),
                       doctest::Contains("--set augment.threads=N"), config_error);
}
