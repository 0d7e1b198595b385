#include "skyssl/data/read_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <mutex>

#include "skyssl/core/error.hpp"

namespace skyssl::data {

std::vector<std::string> batch_field_names(const archive& a) {
  std::vector<std::string> names{a.field_dataset("ebv")};
  for (const auto& b : a.bands()) names.push_back(a.field_dataset("psfsize_" + b));
  return names;
}

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
  // Several reads in flight: contiguous shares of the sorted rows, one per read thread.
  std::mutex mu;
  pixel_report rep;
  auto share = [&](std::size_t lo, std::size_t hi, int) {
    const auto r = a.read_images_into(sorted.data() + lo, hi - lo, dst.data() + lo, zero);
    std::lock_guard<std::mutex> lock(mu);
    rep.merge(r);
  };
  if (opts.pool) {
    opts.pool->parallel_for(sorted.size(), share);
  } else {
    thread_pool call(opts.threads);
    call.parallel_for(sorted.size(), share);
  }
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
  // Fields: from memory when the caller keeps a field_cache, else one read per row and field.
  const auto names = opts.fields ? std::vector<std::string>{} : batch_field_names(a);
  std::vector<float> col(ids.size());
  auto field = [&](std::size_t i) -> bool {
    if (opts.fields) {
      if (!opts.fields->has(i)) return false;
      opts.fields->read(i, sorted.data(), sorted.size(), col.data());
      return true;
    }
    if (names[i].empty()) return false;
    std::vector<double> d(ids.size());
    a.read_column_rows(names[i], sorted, d.data());
    for (std::size_t k = 0; k < d.size(); ++k) col[k] = static_cast<float>(d[k]);
    return true;
  };
  if (field(0)) {
    float* e = out.ebv.data_ptr<float>();
    for (std::size_t k = 0; k < order.size(); ++k) e[order[k]] = col[k];
  }
  float* psf = out.psf_fwhm.data_ptr<float>();
  for (int c = 0; c < C; ++c) {
    if (!field(1 + static_cast<std::size_t>(c))) continue;
    for (std::size_t k = 0; k < order.size(); ++k) psf[order[k] * C + c] = col[k];
  }
  return out;
}

}  // namespace skyssl::data
