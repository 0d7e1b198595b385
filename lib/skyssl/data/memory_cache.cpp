#include "skyssl/data/memory_cache.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::data {

std::int64_t cache_row_floats(int C, int H, int W) {
  return static_cast<std::int64_t>(C) * H * W + 1 + C;
}

std::int64_t cache_share_begin(std::int64_t n, int rank, int world) { return n * rank / world; }

std::int64_t cache_bytes_per_rank(std::int64_t n, int C, int H, int W, int world) {
  std::int64_t most = 0;
  for (int r = 0; r < world; ++r)
    most = std::max(most, cache_share_begin(n, r + 1, world) - cache_share_begin(n, r, world));
  return most * cache_row_floats(C, H, W) * 4;
}

std::int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream s(line.substr(13));
    std::int64_t kb = 0;
    s >> kb;
    return kb * 1024;
  }
  return 0;
}

void check_cache_fits(std::int64_t bytes_per_rank, int ranks_on_node, std::int64_t limit_bytes,
                      const std::string& limit_from, const std::string& archive_name) {
  const double need = static_cast<double>(bytes_per_rank) * ranks_on_node;
  if (limit_bytes <= 0)
    throw data_error(
        fmt::format("data.cache = \"memory\": cannot tell how much memory this node has ({}); set "
                    "data.cache_limit_gb",
                    limit_from));
  if (need > static_cast<double>(limit_bytes))
    throw data_error(fmt::format(
        "data.cache = \"memory\": the {} rank(s) on this node would hold {:.2f} GB of '{}' "
        "({:.2f} GB each), more than the {:.2f} GB {}: use more nodes, or data.cache = \"none\"",
        ranks_on_node, need / 1e9, archive_name, static_cast<double>(bytes_per_rank) / 1e9,
        static_cast<double>(limit_bytes) / 1e9, limit_from));
}

memory_cache::memory_cache(const archive& a, const cache_options& opts, int rank, int world,
                           int ranks_on_node, nonfinite_policy nonfinite)
    : n_(a.size()),
      begin_(cache_share_begin(a.size(), rank, world)),
      end_(cache_share_begin(a.size(), rank + 1, world)),
      row_(cache_row_floats(a.channels(), a.height(), a.width())),
      world_(world),
      channels_(a.channels()),
      height_(a.height()),
      width_(a.width()) {
  const auto per_rank = cache_bytes_per_rank(n_, channels_, height_, width_, world);
  const bool explicit_limit = opts.limit_gb > 0;
  const auto limit =
      explicit_limit ? static_cast<std::int64_t>(opts.limit_gb * 1e9) : available_memory_bytes();
  check_cache_fits(
      per_rank, ranks_on_node, limit,
      explicit_limit ? "data.cache_limit_gb allows" : "available (MemAvailable in /proc/meminfo)",
      a.files().front().path);
  const std::int64_t count = end_ - begin_;
  const std::int64_t pix = static_cast<std::int64_t>(channels_) * height_ * width_;
  rows_.assign(static_cast<std::size_t>(count * row_), 0.0f);
  // Images straight into their rows (row_ strides), decoded and checked in the same pass, in
  // slabs of rows per read call; then the fields.
  const bool zero = nonfinite == nonfinite_policy::zero;
  const std::int64_t slab = std::max<std::int64_t>(1, (64 << 20) / (pix * 4));
  std::vector<std::int64_t> ids;
  std::vector<float*> dst;
  for (std::int64_t s = 0; s < count; s += slab) {
    const std::int64_t k = std::min(slab, count - s);
    ids.resize(static_cast<std::size_t>(k));
    dst.resize(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) {
      ids[static_cast<std::size_t>(i)] = begin_ + s + i;
      dst[static_cast<std::size_t>(i)] = rows_.data() + (s + i) * row_;
    }
    const pixel_report rep = a.read_images_into(ids.data(), ids.size(), dst.data(), zero);
    // "skip": those samples are never in an epoch plan, so their rows are never handed out.
    if (rep.nonfinite == 0 || nonfinite != nonfinite_policy::error) continue;
    const std::int64_t id = rep.first_row, p = rep.first_pixel;
    const auto& f = a.files()[static_cast<std::size_t>(a.file_of(id))];
    const std::int64_t plane = static_cast<std::int64_t>(height_) * width_;
    const float v = rows_[static_cast<std::size_t>((id - begin_) * row_ + p)];
    throw data_error(fmt::format(
        "archive file '{}', dataset 'images': sample {} (global id {}) has a {} pixel (band {}, y "
        "{}, x {}); --set data.nonfinite=zero or =skip trains on such archives",
        f.path, id - f.first_row, id, std::isnan(v) ? "NaN" : "Inf",
        a.bands()[static_cast<std::size_t>(p / plane)], (p % plane) / width_, p % width_));
  }
  std::vector<double> col(static_cast<std::size_t>(count));
  auto put = [&](std::int64_t offset) {
    for (std::int64_t i = 0; i < count; ++i)
      rows_[static_cast<std::size_t>(i * row_ + offset)] =
          static_cast<float>(col[static_cast<std::size_t>(i)]);
  };
  if (count > 0) {
    if (const auto ebv = a.field_dataset("ebv"); !ebv.empty()) {
      a.read_column(ebv, begin_, count, col.data());
      put(pix);
    }
    for (int c = 0; c < channels_; ++c) {
      const auto name = a.field_dataset("psfsize_" + a.bands()[static_cast<std::size_t>(c)]);
      if (name.empty()) {
        for (std::int64_t i = 0; i < count; ++i)
          rows_[static_cast<std::size_t>(i * row_ + pix + 1 + c)] =
              std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      a.read_column(name, begin_, count, col.data());
      put(pix + 1 + c);
    }
  }
}

int memory_cache::owner(std::int64_t id) const {
  if (id < 0 || id >= n_)
    throw data_error(fmt::format("memory cache: row {} outside the archive's {} rows", id, n_));
  // floor(n r / R) <= id < floor(n (r+1) / R): start from the estimate and correct.
  int r = static_cast<int>(
      std::min<std::int64_t>(world_ - 1, (id * world_) / std::max<std::int64_t>(n_, 1)));
  while (r > 0 && cache_share_begin(n_, r, world_) > id) --r;
  while (r + 1 < world_ && cache_share_begin(n_, r + 1, world_) <= id) ++r;
  return r;
}

void memory_cache::pack(const std::vector<std::int64_t>& ids, float* out) const {
  for (std::size_t k = 0; k < ids.size(); ++k) {
    const std::int64_t id = ids[k];
    if (id < begin_ || id >= end_)
      throw data_error(fmt::format("memory cache: row {} is not in this rank's share [{}, {})", id,
                                   begin_, end_));
    std::memcpy(out + static_cast<std::int64_t>(k) * row_, rows_.data() + (id - begin_) * row_,
                static_cast<std::size_t>(row_) * 4);
  }
}

sample_batch memory_cache::unpack(const float* rows, const std::vector<std::int64_t>& ids,
                                  std::int64_t epoch, std::int64_t step) const {
  const auto B = static_cast<std::int64_t>(ids.size());
  const int C = channels_;
  const std::int64_t pix = static_cast<std::int64_t>(C) * height_ * width_;
  sample_batch out;
  out.epoch = epoch;
  out.step = step;
  out.ids = torch::empty({B}, torch::kInt64);
  if (B > 0) std::memcpy(out.ids.data_ptr<std::int64_t>(), ids.data(), ids.size() * 8);
  out.images = torch::empty({B, C, height_, width_}, torch::kFloat32);
  out.ebv = torch::empty({B}, torch::kFloat32);
  out.psf_fwhm = torch::empty({B, C}, torch::kFloat32);
  float* img = out.images.data_ptr<float>();
  float* e = out.ebv.data_ptr<float>();
  float* psf = out.psf_fwhm.data_ptr<float>();
  for (std::int64_t k = 0; k < B; ++k) {
    const float* r = rows + k * row_;
    std::memcpy(img + k * pix, r, static_cast<std::size_t>(pix) * 4);
    e[k] = r[pix];
    for (int c = 0; c < C; ++c) psf[k * C + c] = r[pix + 1 + c];
  }
  return out;
}

}  // namespace skyssl::data
