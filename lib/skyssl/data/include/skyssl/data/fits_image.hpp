#pragma once
// A FITS primary image read as float32 through cfitsio: 2-D (one band) or 3-D (bands x height
// x width). Used by skyssl-prep from-fits and by the cutout queries of skyssl-search.
#include <filesystem>
#include <vector>

namespace skyssl::data {

// Pixels in FITS order (NAXIS1 = x fastest, so a 3-D image is (bands, height, width) row-major)
// and dims = {NAXIS1, NAXIS2[, NAXIS3]}. archive_error naming the file and cfitsio's reason,
// or, before anything is allocated, the size when max_values > 0 and the image holds more.
std::vector<float> read_fits_image(const std::filesystem::path& path, std::vector<long>& dims,
                                   long max_values = 0);

}  // namespace skyssl::data
