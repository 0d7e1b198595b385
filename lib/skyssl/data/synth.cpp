#include "skyssl/data/synth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

namespace skyssl::data {

namespace {

struct band_info {
  const char* name;
  double wavelength_nm;
  double extinction;  // R_b: DECam g r i z (Schlafly & Finkbeiner 2011), SDSS u
  double sky_sigma;   // typical DECaLS/SDSS-like sky noise, nanomaggies per pixel
  double psf_fwhm;    // typical seeing, arcsec
};

const band_info bands_table[] = {
    {"u", 355.0, 4.239, 0.020, 1.60}, {"g", 475.0, 3.214, 0.004, 1.45},
    {"r", 635.0, 2.165, 0.006, 1.30}, {"i", 775.0, 1.592, 0.009, 1.25},
    {"z", 925.0, 1.211, 0.015, 1.20},
};

const band_info& band(const std::string& name) {
  for (const auto& b : bands_table)
    if (name == b.name) return b;
  throw data_error(fmt::format("synth: unknown band '{}' (known: u g r i z)", name));
}

// Sequential uniforms from one Philox stream: (seed, 0, galaxy id, view 0, purpose synth).
class draws {
 public:
  draws(std::uint64_t seed, std::int64_t id)
      : key_{seed, 0, static_cast<std::uint64_t>(id), 0, rng::synth} {}
  double uniform() {
    if (used_ == 4) {
      block_ = rng::draw(key_, index_++);
      used_ = 0;
    }
    const std::uint32_t hi = block_.v[used_], lo = block_.v[used_ + 1];
    used_ += 2;
    return rng::to_unit_double(hi, lo);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  rng::stream_key key_;
  std::uint32_t index_ = 0;
  int used_ = 4;
  rng::u32x4 block_{};
};

// Luminosity distance in Mpc (flat low-z expansion, H0 = 70): good enough below z ~ 0.5.
double lum_distance_mpc(double z) { return 4282.7 * z * (1.0 + 0.5 * 0.45 * z); }

// Separable Gaussian blur, zero outside the stamp; tmp is n*n floats.
void blur(float* img, float* tmp, int n, double sigma) {
  const int half = std::max(1, static_cast<int>(std::ceil(4.0 * sigma)));
  std::vector<float> w(static_cast<std::size_t>(2 * half + 1));
  double sum = 0;
  for (int k = -half; k <= half; ++k)
    sum += w[static_cast<std::size_t>(k + half)] =
        static_cast<float>(std::exp(-0.5 * k * k / (sigma * sigma)));
  for (auto& v : w) v = static_cast<float>(v / sum);
  // Both passes are written as shifted row updates (o[x] += w * in[x + k]) so they vectorise.
  for (int y = 0; y < n; ++y) {
    const float* row = img + static_cast<std::size_t>(y) * n;
    float* o = tmp + static_cast<std::size_t>(y) * n;
    std::fill(o, o + n, 0.0f);
    for (int k = -half; k <= half; ++k) {
      const float wk = w[static_cast<std::size_t>(k + half)];
      const int x0 = std::max(0, -k), x1 = std::min(n, n - k);
      const float* in = row + k;
      for (int x = x0; x < x1; ++x) o[x] += wk * in[x];
    }
  }
  for (int y = 0; y < n; ++y) {
    float* o = img + static_cast<std::size_t>(y) * n;
    std::fill(o, o + n, 0.0f);
    const int k0 = std::max(-half, -y), k1 = std::min(half, n - 1 - y);
    for (int k = k0; k <= k1; ++k) {
      const float wk = w[static_cast<std::size_t>(k + half)];
      const float* in = tmp + static_cast<std::size_t>(y + k) * n;
      for (int x = 0; x < n; ++x) o[x] += wk * in[x];
    }
  }
}

void normalise(float* img, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += img[i];
  if (s > 0) {
    const float inv = static_cast<float>(1.0 / s);
    for (std::size_t i = 0; i < n; ++i) img[i] *= inv;
  }
}

}  // namespace

double extinction_coefficient(const std::string& name) { return band(name).extinction; }

galaxy draw_galaxy(const synth_options& o, std::int64_t id) {
  draws d(o.seed, id);
  galaxy g;
  g.id = id;
  g.morphology = d.uniform() < 0.5 ? 1 : 0;
  const bool featured = g.morphology == 1;
  g.z_spec = static_cast<float>(0.02 + 0.33 * std::pow(d.uniform(), 1.3));
  g.ra = d.uniform(0.0, 360.0);
  g.dec = d.uniform(-20.0, 35.0);
  g.ebv = static_cast<float>(std::min(0.3, 0.005 - 0.04 * std::log(1.0 - d.uniform())));
  const double abs_mag = featured ? -20.8 + 0.9 * d.normal() : -21.3 + 0.8 * d.normal();
  const double dl = lum_distance_mpc(g.z_spec);
  g.mag_r = static_cast<float>(std::clamp(abs_mag + 5.0 * std::log10(dl) + 25.0, 13.0, 20.5));
  // Size: a few kpc, brighter galaxies larger; angular size through D_A = D_L / (1+z)^2.
  const double r_kpc =
      std::exp(std::log(4.5) + 0.35 * d.normal()) * std::pow(10.0, -0.1 * (abs_mag + 21.0));
  const double da_kpc = dl / ((1.0 + g.z_spec) * (1.0 + g.z_spec)) * 1000.0;
  const double max_r = o.size * o.pixel_scale / 5.0;
  g.r_half = static_cast<float>(std::clamp(r_kpc / da_kpc * 206264.8, 0.4, max_r));
  g.ba = static_cast<float>(featured ? d.uniform(0.25, 1.0) : d.uniform(0.55, 1.0));
  g.pa = static_cast<float>(d.uniform(0.0, 180.0));
  g.bulge_frac = static_cast<float>(featured ? d.uniform(0.0, 0.3) : d.uniform(0.65, 1.0));
  if (featured) {
    if (d.uniform() < 0.65) {
      const double u = d.uniform();
      g.arms = u < 0.7 ? 2 : (u < 0.9 ? 3 : 4);
      g.pitch = static_cast<float>(d.uniform(10.0, 30.0));
    } else {
      g.clumps = 3 + static_cast<int>(d.uniform() * 6.0);
    }
  }
  g.dx = static_cast<float>(d.uniform(-0.5, 0.5));
  g.dy = static_cast<float>(d.uniform(-0.5, 0.5));
  const double seeing = d.uniform(0.85, 1.35);
  const double sky = d.uniform(0.7, 1.4);
  // Colours: f_nu ~ (lambda / lambda_r)^beta per component; redshift reddens every component.
  const double beta_bulge = 2.0 + 4.0 * g.z_spec, beta_disk = 0.8 + 3.0 * g.z_spec,
               beta_clump = -0.2 + 2.0 * g.z_spec;
  const double f_r = std::pow(10.0, -0.4 * (g.mag_r - 22.5));
  const double clump_frac = g.clumps > 0 ? d.uniform(0.15, 0.3) : 0.0;
  for (const auto& name : o.bands) {
    const auto& b = band(name);
    const double x = b.wavelength_nm / 635.0;
    const double fb = f_r * g.bulge_frac * std::pow(x, beta_bulge);
    const double fd = f_r * (1.0 - g.bulge_frac) * (1.0 - clump_frac) * std::pow(x, beta_disk);
    const double fc = f_r * (1.0 - g.bulge_frac) * clump_frac * std::pow(x, beta_clump);
    g.bulge_flux.push_back(static_cast<float>(fb));
    g.disk_flux.push_back(static_cast<float>(fd));
    g.clump_flux.push_back(static_cast<float>(fc));
    const double redden = std::pow(10.0, -0.4 * b.extinction * g.ebv);
    g.flux.push_back(static_cast<float>((fb + fd + fc) * redden));
    g.psf_fwhm.push_back(static_cast<float>(b.psf_fwhm * seeing * d.uniform(0.95, 1.05)));
    g.sky_sigma.push_back(static_cast<float>(b.sky_sigma * sky));
  }
  return g;
}

void render_galaxy(const synth_options& o, const galaxy& g, float* out,
                   std::vector<float>& scratch) {
  const int n = o.size;
  const std::size_t np = static_cast<std::size_t>(n) * n;
  scratch.resize(4 * np);
  float* bulge = scratch.data();
  float* disk = bulge + np;
  float* clumps = disk + np;
  float* tmp = clumps + np;
  const double re = g.r_half / o.pixel_scale;  // disk half-light radius, pixels
  const double rb = re * (g.morphology ? 0.35 : 0.6);
  const double phi = g.pa * M_PI / 180.0, cs = std::cos(phi), sn = std::sin(phi);
  const double inv_ba = 1.0 / g.ba, inv_ba_b = 1.0 / std::sqrt(g.ba);
  const double c = 0.5 * (n - 1);
  draws d(o.seed ^ 0x5bd1e995u, g.id);  // arm phase, clump positions: a second stream
  const double phase = d.uniform(0.0, 2.0 * M_PI);
  const double arm_amp = d.uniform(0.4, 0.85);
  const double tan_pitch = std::tan(std::max(5.0, static_cast<double>(g.pitch)) * M_PI / 180.0);
  // Float math in the per-pixel loop: it dominates the rendering time.
  const float fc = static_cast<float>(c), fdx = g.dx, fdy = g.dy, fcs = static_cast<float>(cs),
              fsn = static_cast<float>(sn), finv_ba = static_cast<float>(inv_ba),
              finv_ba_b = static_cast<float>(inv_ba_b), inv_re = static_cast<float>(1.0 / re),
              inv_rb = static_cast<float>(1.0 / rb), fphase = static_cast<float>(phase),
              famp = static_cast<float>(arm_amp), inv_tan = static_cast<float>(1.0 / tan_pitch),
              inv_w = static_cast<float>(1.0 / (0.25 * re * re));
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const float u = static_cast<float>(x) - fc - fdx, v = static_cast<float>(y) - fc - fdy;
      const float a = u * fcs + v * fsn, b = -u * fsn + v * fcs;
      const float bd = b * finv_ba, bb = b * finv_ba_b;
      const float r2d = a * a + bd * bd;
      const float rd = std::sqrt(r2d);
      const float rbul = std::sqrt(a * a + bb * bb) * inv_rb;
      const std::size_t i = static_cast<std::size_t>(y) * n + x;
      bulge[i] = std::exp(-7.669f * (std::sqrt(std::sqrt(rbul)) - 1.0f));
      float disk_v = std::exp(-1.678f * rd * inv_re);
      if (g.arms > 0) {
        const float theta = std::atan2(bd, a);
        const float lr = std::log(std::max(rd, 0.5f) * inv_re);
        const float window = 1.0f - std::exp(-r2d * inv_w);
        disk_v *= 1.0f + famp * window *
                             std::cos(static_cast<float>(g.arms) * (theta - lr * inv_tan) + fphase);
      }
      disk[i] = disk_v;
      clumps[i] = 0.0f;
    }
  }
  for (int k = 0; k < g.clumps; ++k) {
    // Clumps sit in the disk plane at 0.3-1.5 half-light radii, projected like the disk.
    const double rr = d.uniform(0.3, 1.5) * re, t = d.uniform(0.0, 2.0 * M_PI);
    const double a = rr * std::cos(t), b = rr * std::sin(t) * g.ba;
    const double cx = c + g.dx + a * cs - b * sn, cy = c + g.dy + a * sn + b * cs;
    const double s = d.uniform(0.6, 1.4), amp = d.uniform(0.5, 1.5);
    const int x0 = std::max(0, static_cast<int>(cx - 4 * s)),
              x1 = std::min(n - 1, static_cast<int>(cx + 4 * s) + 1);
    const int y0 = std::max(0, static_cast<int>(cy - 4 * s)),
              y1 = std::min(n - 1, static_cast<int>(cy + 4 * s) + 1);
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x)
        clumps[static_cast<std::size_t>(y) * n + x] += static_cast<float>(
            amp * std::exp(-0.5 * ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (s * s)));
  }
  normalise(bulge, np);
  normalise(disk, np);
  normalise(clumps, np);
  for (std::size_t bi = 0; bi < o.bands.size(); ++bi) {
    float* img = out + bi * np;
    const double redden = std::pow(10.0, -0.4 * band(o.bands[bi]).extinction * g.ebv);
    const float fb = static_cast<float>(g.bulge_flux[bi] * redden),
                fd = static_cast<float>(g.disk_flux[bi] * redden),
                fc = static_cast<float>(g.clump_flux[bi] * redden);
    for (std::size_t i = 0; i < np; ++i) img[i] = fb * bulge[i] + fd * disk[i] + fc * clumps[i];
    blur(img, tmp, n, g.psf_fwhm[bi] / o.pixel_scale / 2.35482);
    // Sky noise: its own Philox stream per band (view = 1 + band), 4 normals per draw.
    const rng::stream_key key{o.seed, 0, static_cast<std::uint64_t>(g.id),
                              static_cast<std::uint32_t>(1 + bi), rng::synth};
    const float sigma = g.sky_sigma[bi];
    for (std::size_t i = 0; i < np; i += 4) {
      const auto w = rng::draw(key, static_cast<std::uint32_t>(i / 4));
      float nz[4];
      rng::to_normal2(w.v[0], w.v[1], nz[0], nz[1]);
      rng::to_normal2(w.v[2], w.v[3], nz[2], nz[3]);
      for (std::size_t k = 0; k < 4 && i + k < np; ++k) img[i + k] += sigma * nz[k];
    }
  }
}

}  // namespace skyssl::data
