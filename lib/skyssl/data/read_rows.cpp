#include "skyssl/data/read_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <thread>

#include "skyssl/core/error.hpp"

namespace skyssl::data {

sample_batch read_rows(const archive& a, const std::vector<std::int64_t>& ids, std::int64_t epoch,
                       std::int64_t step, const read_rows_options& opts, torch::Tensor images) {
  const auto B = static_cast<std::int64_t>(ids.size());
  const int C = a.channels();
  const std::int64_t pix = static_cast<std::int64_t>(C) * a.height() * a.width();

  // Read in sorted order (neighbouring ids coalesce), each row straight into its batch slot.
  std::vector<std::int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto x, auto y) { return ids[x] < ids[y]; });
  std::vector<std::int64_t> sorted(ids.size());
  for (std::size_t k = 0; k < order.size(); ++k)
    sorted[k] = ids[static_cast<std::size_t>(order[k])];

  sample_batch out;
  out.epoch = epoch;
  out.step = step;
  out.ids = torch::empty({B}, torch::kInt64);
  std::memcpy(out.ids.data_ptr<std::int64_t>(), ids.data(), ids.size() * sizeof(std::int64_t));
  const std::vector<std::int64_t> shape{B, C, a.height(), a.width()};
  if (!images.defined())
    images = torch::empty(shape, torch::kFloat32);
  else if (images.sizes() != torch::IntArrayRef(shape) || !images.is_contiguous() ||
           images.scalar_type() != torch::kFloat32)
    throw data_error("read_rows: the image buffer does not fit the batch");
  out.images = images;
  out.ebv = torch::zeros({B}, torch::kFloat32);
  out.psf_fwhm = torch::full({B, C}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  if (B == 0) return out;

  float* img = out.images.data_ptr<float>();
  std::vector<float*> dst(sorted.size());
  for (std::size_t k = 0; k < dst.size(); ++k) dst[k] = img + order[k] * pix;
  const bool zero = opts.nonfinite == nonfinite_policy::zero;
  // Several reads in flight: contiguous shares of the sorted rows, one per thread.
  const int T = static_cast<int>(std::min<std::int64_t>(opts.threads, B));
  std::vector<pixel_report> reports(static_cast<std::size_t>(std::max(T, 1)));
  std::vector<std::exception_ptr> errors(reports.size());
  auto part = [&](int t) {
    const std::size_t lo =
        sorted.size() * static_cast<std::size_t>(t) / static_cast<std::size_t>(T);
    const std::size_t hi =
        sorted.size() * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(T);
    try {
      reports[static_cast<std::size_t>(t)] =
          a.read_images_into(sorted.data() + lo, hi - lo, dst.data() + lo, zero);
    } catch (...) {
      errors[static_cast<std::size_t>(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < T; ++t) helpers.emplace_back(part, t);
  part(0);
  for (auto& h : helpers) h.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  pixel_report rep;
  for (const auto& r : reports) rep.merge(r);
  if (rep.nonfinite > 0 && !zero) {
    const std::int64_t id = rep.first_row;
    const auto k = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), id) -
                                            sorted.begin());
    const float v = dst[k][rep.first_pixel];
    const auto& f = a.files()[static_cast<std::size_t>(a.file_of(id))];
    const std::int64_t plane = a.height() * a.width();
    const std::int64_t p = rep.first_pixel;
    throw data_error(fmt::format(
        "archive file '{}', dataset 'images': sample {} (global id {}) has a {} pixel "
        "(band {}, y {}, x {}){}",
        f.path, id - f.first_row, id, std::isnan(v) ? "NaN" : "Inf",
        a.bands()[static_cast<std::size_t>(p / plane)], (p % plane) / a.width(), p % a.width(),
        opts.nonfinite == nonfinite_policy::skip
            ? " although the start-up scan found none there (did the file change?)"
            : "; --set data.nonfinite=zero or =skip trains on such archives"));
  }
  out.nonfinite_pixels = rep.nonfinite;
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
      psf[order[k] * C + c] = static_cast<float>(col[k]);
  }
  return out;
}

}  // namespace skyssl::data
