#pragma once
// A FITS primary image read as float32 through cfitsio: 2-D (one band) or 3-D (bands x height
// x width). Used by skyssl-prep from-fits and by the cutout queries of skyssl-search.
//
// Files from others are read defensively: the file is read into memory (a gzip file inflated
// by zlib up to max_fits_bytes) and handed to cfitsio as a memory file under a fixed name, so
// cfitsio's extended-filename syntax ("file.fits[1][#row>5]", "!out", "mem://") never applies
// to a user's path; the pixel count is computed in 64 bits with overflow checks and must fit
// in the bytes the file really holds before the pixel vector is allocated.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace skyssl::data {

// The most bytes a FITS file may hold once inflated (1 GiB): a bigger .gz is refused.
constexpr std::size_t max_fits_bytes = std::size_t{1} << 30;

// Pixels in FITS order (NAXIS1 = x fastest, so a 3-D image is (bands, height, width) row-major)
// and dims = {NAXIS1, NAXIS2[, NAXIS3]}, each >= 1. archive_error naming the file and the
// reason (cfitsio's where it has one); also, before anything is allocated, when max_values > 0
// and the image holds more values (skyssl-serve's upload limit).
std::vector<float> read_fits_image(const std::filesystem::path& path, std::vector<long>& dims,
                                   std::int64_t max_values = 0);

// The same from the file's bytes (gzip-compressed or not); `source` names them in errors and
// `max_bytes` caps the inflated size (tests and the fuzz harness pass smaller caps).
std::vector<float> parse_fits_image(const std::string& bytes, const std::string& source,
                                    std::vector<long>& dims,
                                    std::size_t max_bytes = max_fits_bytes,
                                    std::int64_t max_values = 0);

}  // namespace skyssl::data
