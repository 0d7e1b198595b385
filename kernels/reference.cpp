#include "kernels/reference.hpp"

#include <algorithm>
#include <cmath>

namespace skyssl::kernels::reference {

image from_buffer(const float* data, int c, int h, int w) {
  image im(c, h, w);
  std::copy(data, data + im.px.size(), im.px.begin());
  return im;
}

std::vector<float> frame_noise(const image& in, int border) {
  const int b = std::min({border, in.h / 2, in.w / 2});
  std::vector<float> out(in.c, 0.0f);
  for (int band = 0; band < in.c; ++band) {
    std::vector<double> v;
    for (int y = 0; y < in.h; ++y)
      for (int x = 0; x < in.w; ++x)
        if (y < b || y >= in.h - b || x < b || x >= in.w - b) v.push_back(in.at(band, y, x));
    if (v.size() < 2) continue;
    auto mean_sd = [](const std::vector<double>& s, double& mean, double& sd) {
      double sum = 0, sum2 = 0;
      for (double x : s) sum += x, sum2 += x * x;
      mean = sum / s.size();
      sd = std::sqrt(std::max(sum2 / s.size() - mean * mean, 0.0));
    };
    double mean, sd;
    mean_sd(v, mean, sd);
    std::vector<double> kept;
    for (double x : v)
      if (std::fabs(x - mean) <= 3.0 * sd) kept.push_back(x);
    if (kept.size() >= 2) mean_sd(kept, mean, sd);
    out[band] = static_cast<float>(sd);
  }
  return out;
}

image redden(const image& in, const float* gain) {
  image out = in;
  for (int b = 0; b < in.c; ++b)
    for (int y = 0; y < in.h; ++y)
      for (int x = 0; x < in.w; ++x) out.at(b, y, x) = in.at(b, y, x) * gain[b];
  return out;
}

namespace {
int reflect(int i, int n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return std::clamp(i, 0, n - 1);
}
float sample_bilinear(const image& in, int b, float y, float x) {
  const int y0 = static_cast<int>(std::floor(y)), x0 = static_cast<int>(std::floor(x));
  const float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
  auto v = [&](int yy, int xx) { return in.at(b, reflect(yy, in.h), reflect(xx, in.w)); };
  return (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x0 + 1)) +
         fy * ((1 - fx) * v(y0 + 1, x0) + fx * v(y0 + 1, x0 + 1));
}
}  // namespace

image geometry(const image& in, const sample_params& p, int h, int w, int pad) {
  image out(in.c, h + 2 * pad, w + 2 * pad);
  for (int b = 0; b < in.c; ++b)
    for (int y = 0; y < out.h; ++y)
      for (int x = 0; x < out.w; ++x) {
        // Offset from the crop centre of the output pixel, shifted by the jitter.
        const float vy = static_cast<float>(y - pad + p.jy) - 0.5f * (h - 1);
        const float vx = static_cast<float>(x - pad + p.jx) - 0.5f * (w - 1);
        out.at(b, y, x) =
            sample_bilinear(in, b, p.cy + p.m00 * vy + p.m01 * vx, p.cx + p.m10 * vy + p.m11 * vx);
      }
  return out;
}

std::vector<double> gaussian_taps(double sigma, int r) {
  std::vector<double> k(2 * r + 1, 1.0);
  if (r == 0) return k;
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= sum;
  return k;
}

image blur(const image& padded, const sample_params& p, int pad, int h, int w) {
  image out(padded.c, h, w);
  for (int b = 0; b < padded.c; ++b) {
    const int r = p.radius[b];
    const auto k = gaussian_taps(p.blur_sigma[b], r);
    // Rows first (over the rows the column pass needs), then columns.
    std::vector<double> rows(static_cast<std::size_t>(h + 2 * r) * w);
    for (int y = 0; y < h + 2 * r; ++y)
      for (int x = 0; x < w; ++x) {
        double s = 0;
        for (int i = -r; i <= r; ++i) s += k[i + r] * padded.at(b, pad - r + y, pad + x + i);
        rows[static_cast<std::size_t>(y) * w + x] = s;
      }
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double s = 0;
        for (int i = -r; i <= r; ++i)
          s += k[i + r] * rows[static_cast<std::size_t>(y + r + i) * w + x];
        out.at(b, y, x) = static_cast<float>(s);
      }
  }
  return out;
}

void add_noise(image& im, const float* sigma, std::uint64_t seed, std::int64_t epoch,
               std::uint64_t id, int view) {
  const auto key = noise_key(seed, epoch, id, view);
  const int blocks_per_row = (im.w + 3) / 4;
  for (int b = 0; b < im.c; ++b) {
    if (!(sigma[b] > 0)) continue;
    for (int y = 0; y < im.h; ++y)
      for (int x = 0; x < im.w; ++x) {
        float z[4];
        noise_block(key, static_cast<std::uint32_t>((b * im.h + y) * blocks_per_row + x / 4), z);
        im.at(b, y, x) += sigma[b] * z[x % 4];
      }
  }
}

void stretch(image& im, const float* scale, float m, float q) {
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < im.w; ++x) {
      double I = 0;
      std::vector<double> t(im.c);
      for (int b = 0; b < im.c; ++b) {
        t[b] = static_cast<double>(im.at(b, y, x)) * scale[b] + m;
        I += std::max(t[b], 0.0);
      }
      I /= im.c;
      const double f = std::asinh(q * I) / std::sqrt(static_cast<double>(q)) / (I == 0 ? 1e-6 : I);
      for (int b = 0; b < im.c; ++b)
        im.at(b, y, x) = static_cast<float>(std::clamp(t[b] * f, 0.0, 1.0));
    }
}

image center_crop(const image& in, int h, int w) {
  image out(in.c, h, w);
  const int oy = (in.h - h) / 2, ox = (in.w - w) / 2;
  for (int b = 0; b < in.c; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) out.at(b, y, x) = in.at(b, oy + y, ox + x);
  return out;
}

image augment_view(const augment_config& cfg, const image& in, std::uint64_t id, float ebv,
                   const float* psf_fwhm, std::uint64_t seed, std::int64_t epoch, int view) {
  std::vector<float> own(in.c, 0.0f);
  if (cfg.noise) {
    if (cfg.noise_from == noise_source::config)
      own.assign(cfg.catalogue_noise, cfg.catalogue_noise + in.c);
    else
      own = frame_noise(in, cfg.noise_border);
  }
  const sample_params p =
      draw_sample_params(cfg, in.h, in.w, seed, epoch, id, view, ebv, psf_fwhm, 1, own.data());
  const int pad = cfg.max_radius();
  image out = blur(geometry(redden(in, p.gain), p, cfg.crop_h, cfg.crop_w, pad), p, pad, cfg.crop_h,
                   cfg.crop_w);
  add_noise(out, p.noise_sigma, seed, epoch, id, view);
  if (cfg.stretch) stretch(out, cfg.stretch_scale, cfg.stretch_m, cfg.stretch_q);
  return out;
}

}  // namespace skyssl::kernels::reference
