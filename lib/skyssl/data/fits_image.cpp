#include "skyssl/data/fits_image.hpp"

#include <fitsio.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <string>

#include "skyssl/core/error.hpp"

namespace skyssl::data {

std::vector<float> read_fits_image(const std::filesystem::path& file, std::vector<long>& dims,
                                   long max_values) {
  const std::string path = file.string();
  fitsfile* f = nullptr;
  int status = 0;
  auto fail = [&](const std::string& what) {
    char msg[FLEN_STATUS] = {0};
    fits_get_errstatus(status, msg);
    if (f) {
      int s2 = 0;
      fits_close_file(f, &s2);
    }
    throw archive_error(fmt::format("FITS file '{}': {} (cfitsio: {})", path, what, msg));
  };
  if (!std::filesystem::exists(file))
    throw archive_error(fmt::format("FITS file '{}' does not exist", path));
  if (fits_open_image(&f, path.c_str(), READONLY, &status)) fail("cannot open an image HDU");
  int naxis = 0;
  if (fits_get_img_dim(f, &naxis, &status)) fail("cannot read NAXIS");
  if (naxis < 2 || naxis > 3) {
    status = 0;
    fail(fmt::format("has {} axes, expected 2 (one band) or 3 (bands x height x width)", naxis));
  }
  dims.assign(static_cast<std::size_t>(naxis), 0);
  if (fits_get_img_size(f, naxis, dims.data(), &status)) fail("cannot read the image size");
  long n = 1;
  for (long d : dims) {
    // A header may claim any size: check before multiplying past the limit or allocating.
    if (d <= 0 || (max_values > 0 && d > max_values / n)) {
      status = 0;
      fail(fmt::format("an image of {} axes of sizes {} is {}", naxis, fmt::join(dims, " x "),
                       d <= 0 ? "empty" : fmt::format("over the limit of {} values", max_values)));
    }
    n *= d;
  }
  std::vector<float> px(static_cast<std::size_t>(n));
  std::vector<long> first(static_cast<std::size_t>(naxis), 1);
  float nulval = std::nanf("");
  int anynul = 0;
  if (fits_read_pix(f, TFLOAT, first.data(), n, &nulval, px.data(), &anynul, &status))
    fail("cannot read the pixels");
  fits_close_file(f, &status);
  return px;
}

}  // namespace skyssl::data
