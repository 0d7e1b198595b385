#include "skyssl/data/fits_image.hpp"

#include <fitsio.h>
#include <fmt/format.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>

#include "skyssl/core/error.hpp"

namespace skyssl::data {
namespace {

bool is_gzip(const std::string& b) {
  return b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f &&
         static_cast<unsigned char>(b[1]) == 0x8b;
}

// Inflates a gzip stream (several members allowed, as gzip writes them) into at most
// max_fits_bytes; a bigger or damaged stream is an error naming the file.
std::string gunzip(const std::string& in, const std::string& source, std::size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    throw archive_error(fmt::format("FITS file '{}': zlib cannot start", source));
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), UINT32_MAX));
  std::size_t fed = z.avail_in;
  char buf[1 << 16];
  int rc = Z_OK;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&z);
      throw archive_error(
          fmt::format("FITS file '{}' inflates to more than {} bytes; refused", source, max_bytes));
    }
    if (z.avail_in == 0 && fed < in.size()) {
      const std::size_t more = std::min<std::size_t>(in.size() - fed, UINT32_MAX);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + fed));
      z.avail_in = static_cast<uInt>(more);
      fed += more;
    }
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (concatenated .gz); trailing zeros are padding.
      if (z.avail_in == 0 || static_cast<unsigned char>(*z.next_in) != 0x1f) break;
      inflateReset(&z);
    } else if (z.avail_in == 0 && z.avail_out != 0) {
      rc = Z_BUF_ERROR;  // input ended inside the stream
      break;
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    throw archive_error(fmt::format(
        "FITS file '{}': its gzip data is damaged or truncated (zlib error {})", source, rc));
  return out;
}

}  // namespace

std::vector<float> parse_fits_image(const std::string& file_bytes, const std::string& source,
                                    std::vector<long>& dims, std::size_t max_bytes,
                                    std::int64_t max_values) {
  const std::string inflated =
      is_gzip(file_bytes) ? gunzip(file_bytes, source, max_bytes) : std::string();
  const std::string& bytes = is_gzip(file_bytes) ? inflated : file_bytes;
  fitsfile* f = nullptr;
  int status = 0;
  auto fail = [&](const std::string& what, bool with_cfitsio = true) {
    char msg[FLEN_STATUS] = {0};
    fits_get_errstatus(status, msg);
    fits_clear_errmsg();
    if (f) {
      int s2 = 0;
      fits_close_file(f, &s2);
    }
    throw archive_error(with_cfitsio
                            ? fmt::format("FITS file '{}': {} (cfitsio: {})", source, what, msg)
                            : fmt::format("FITS file '{}': {}", source, what));
  };
  // A memory file under a fixed name: nothing of the user's path reaches cfitsio's parser.
  // cfitsio reads whole 2880-byte records, also from a memory file: a file whose size is not a
  // multiple of 2880 (truncated, or written by a sloppy tool) is padded with zeros here so that
  // no record read runs past the buffer (found by tests/fuzz/fits). Pixels must still lie
  // within the file's real size (checked below).
  std::string padded;
  const std::string* image = &bytes;
  if (bytes.size() % 2880 != 0) {
    padded.reserve(bytes.size() + 2880);
    padded = bytes;
    padded.resize((bytes.size() / 2880 + 1) * 2880, '\0');
    image = &padded;
  }
  void* buffer = const_cast<char*>(image->data());
  std::size_t size = image->size();
  if (fits_open_memfile(&f, "skyssl-cutout.fits", READONLY, &buffer, &size, 0, nullptr, &status))
    fail("cannot open it as FITS");
  int naxis = 0;
  if (fits_get_img_dim(f, &naxis, &status)) fail("cannot read NAXIS");
  if (naxis == 0) {  // an empty primary HDU: the image is the first extension (as fits_open_image)
    int type = 0;
    if (fits_movabs_hdu(f, 2, &type, &status) || type != IMAGE_HDU)
      fail("has no image in its primary HDU or first extension");
    if (fits_get_img_dim(f, &naxis, &status)) fail("cannot read NAXIS");
  }
  if (naxis < 2 || naxis > 3)
    fail(fmt::format("has {} axes, expected 2 (one band) or 3 (bands x height x width)", naxis),
         false);
  int bitpix = 0;
  if (fits_get_img_type(f, &bitpix, &status)) fail("cannot read BITPIX");
  dims.assign(static_cast<std::size_t>(naxis), 0);
  if (fits_get_img_size(f, naxis, dims.data(), &status)) fail("cannot read the image size");
  // 64-bit pixel count with overflow checks; the stored pixels must fit in the file's bytes
  // (a tile-compressed image may hold up to 64 times its size).
  std::int64_t n = 1;
  for (std::size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] < 1)
      fail(fmt::format("NAXIS{} is {}; every axis must be at least 1", k + 1, dims[k]), false);
    if (__builtin_mul_overflow(n, static_cast<std::int64_t>(dims[k]), &n))
      fail("its axes multiply past 2^63 pixels", false);
  }
  if (max_values > 0 && n > max_values)
    fail(fmt::format("an image of {} values is over the limit of {}", n, max_values), false);
  const int compressed = fits_is_compressed_image(f, &status);
  const std::uint64_t room = static_cast<std::uint64_t>(bytes.size()) * (compressed ? 64 : 1);
  const std::uint64_t stored_bytes = static_cast<std::uint64_t>(std::abs(bitpix)) / 8;
  if (stored_bytes == 0 || static_cast<std::uint64_t>(n) > room / stored_bytes)
    fail(fmt::format("its header declares {} pixels of {} bits, more than the file's {} bytes "
                     "can hold (truncated or hostile)",
                     n, std::abs(bitpix), bytes.size()),
         false);
  if (!compressed) {  // the pixels themselves must lie inside the file, not in the padding
    LONGLONG head = 0, data_start = 0, data_end = 0;
    if (fits_get_hduaddrll(f, &head, &data_start, &data_end, &status))
      fail("cannot locate the pixels");
    const std::uint64_t need =
        static_cast<std::uint64_t>(data_start) + static_cast<std::uint64_t>(n) * stored_bytes;
    if (data_start < 0 || need > bytes.size())
      fail(fmt::format("truncated: its pixels need {} bytes, the file has {}", need, bytes.size()),
           false);
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

std::vector<float> read_fits_image(const std::filesystem::path& file, std::vector<long>& dims,
                                   std::int64_t max_values) {
  const std::string path = file.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw archive_error(fmt::format(std::filesystem::exists(file, ec)
                                        ? "FITS file '{}' is not a regular file"
                                        : "FITS file '{}' does not exist",
                                    path));
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size > max_fits_bytes)
    throw archive_error(
        fmt::format("FITS file '{}' is larger than {} bytes; refused", path, max_fits_bytes));
  std::ifstream in(file, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw archive_error(fmt::format("FITS file '{}' cannot be read", path));
  return parse_fits_image(bytes, path, dims, max_fits_bytes, max_values);
}

}  // namespace skyssl::data
