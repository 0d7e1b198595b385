#include "skyssl/data/read_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "skyssl/core/error.hpp"

namespace skyssl::data {

sample_batch read_rows(const archive& a, const std::vector<std::int64_t>& ids, std::int64_t epoch,
                       std::int64_t step, bool check_finite) {
  const auto B = static_cast<std::int64_t>(ids.size());
  const int C = a.channels();
  const std::int64_t plane = static_cast<std::int64_t>(a.height()) * a.width();
  const std::int64_t pix = C * plane;
  // Read in sorted order (runs of neighbouring ids coalesce), then place rows in given order.
  std::vector<std::size_t> order(ids.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](auto x, auto y) { return ids[x] < ids[y]; });
  std::vector<std::int64_t> sorted(ids.size());
  for (std::size_t k = 0; k < order.size(); ++k) sorted[k] = ids[order[k]];

  sample_batch out;
  out.epoch = epoch;
  out.step = step;
  out.ids = torch::empty({B}, torch::kInt64);
  if (B > 0) std::memcpy(out.ids.data_ptr<std::int64_t>(), ids.data(), ids.size() * 8);
  out.images = torch::empty({B, C, a.height(), a.width()}, torch::kFloat32);
  out.ebv = torch::zeros({B}, torch::kFloat32);
  out.psf_fwhm = torch::full({B, C}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  if (B == 0) return out;

  std::vector<float> staging(static_cast<std::size_t>(B * pix));
  a.read_images_rows(sorted, staging.data());
  float* img = out.images.data_ptr<float>();
  for (std::int64_t k = 0; k < B; ++k) {
    const float* src = staging.data() + k * pix;
    if (check_finite) {
      for (std::int64_t p = 0; p < pix; ++p) {
        if (std::isfinite(src[p])) continue;
        const std::int64_t id = sorted[static_cast<std::size_t>(k)];
        const auto& f = a.files()[static_cast<std::size_t>(a.file_of(id))];
        throw data_error(fmt::format(
            "archive file '{}', dataset 'images': sample {} (global id {}) has a {} pixel (band "
            "{}, y {}, x {})",
            f.path, id - f.first_row, id, std::isnan(src[p]) ? "NaN" : "Inf",
            a.bands()[static_cast<std::size_t>(p / plane)], (p % plane) / a.width(),
            p % a.width()));
      }
    }
    std::memcpy(img + static_cast<std::int64_t>(order[static_cast<std::size_t>(k)]) * pix, src,
                static_cast<std::size_t>(pix) * sizeof(float));
  }
  std::vector<double> col(ids.size());
  if (const auto ebv = a.field_dataset("ebv"); !ebv.empty()) {
    a.read_column_rows(ebv, sorted, col.data());
    float* e = out.ebv.data_ptr<float>();
    for (std::size_t k = 0; k < order.size(); ++k) e[order[k]] = static_cast<float>(col[k]);
  }
  float* psf = out.psf_fwhm.data_ptr<float>();
  for (int c = 0; c < C; ++c) {
    const auto name = a.field_dataset("psfsize_" + a.bands()[static_cast<std::size_t>(c)]);
    if (name.empty()) continue;
    a.read_column_rows(name, sorted, col.data());
    for (std::size_t k = 0; k < order.size(); ++k)
      psf[static_cast<std::int64_t>(order[k]) * C + c] = static_cast<float>(col[k]);
  }
  return out;
}

}  // namespace skyssl::data
