#pragma once
// The surveys skyssl knows, in one table: their bands, pixel scale and each band's reddening
// coefficient R_b = A_b / E(B-V) (DECam g r z: 3.214 2.165 1.211; SDSS u g r i z: 4.239 3.303
// 2.285 1.698 1.263). Plain constexpr data: kernels capture it in device code.
namespace skyssl::surveys {

struct band {
  const char* name;
  float reddening;  // R_b
};

struct survey {
  const char* name;
  double pixel_scale;  // arcsec per pixel
  int band_count;
  band bands[5];
};

// DESI Legacy Imaging Surveys DR9 (DECaLS), the DECaLS study's archive.
inline constexpr survey decals = {
    "decals", 0.262, 3, {{"g", 3.214f}, {"r", 2.165f}, {"z", 1.211f}}};
// SDSS DR12, the SDSS study's archive.
inline constexpr survey sdss = {
    "sdss", 0.396, 5, {{"u", 4.239f}, {"g", 3.303f}, {"r", 2.285f}, {"i", 1.698f}, {"z", 1.263f}}};

inline constexpr const survey* all[] = {&decals, &sdss};

}  // namespace skyssl::surveys
