#include "skyssl/embed/cutout.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "kernels/augment.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/stored_bytes.hpp"
#include "skyssl/data/fits_image.hpp"
#include "skyssl/data/h5.hpp"  // HDF5 helpers: lib/data and lib/eval only, never apps

namespace skyssl::embed {
namespace {

std::string lower_ext(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

torch::Tensor read_h5_cutout(const std::filesystem::path& path, std::int64_t max_values) {
  namespace h5 = data::h5;
  std::lock_guard<std::recursive_mutex> g(h5::mutex());
  h5::quiet();
  const std::string p = path.string();
  h5::handle f(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f) throw data_error(fmt::format("cutout '{}' is not an HDF5 file", p));
  if (H5Lexists(f.get(), "images", H5P_DEFAULT) <= 0)
    throw data_error(fmt::format("cutout '{}' has no dataset 'images'", p));
  // Pixels stored in this file only: a link or foreign storage could read any local file.
  H5L_info_t link{};
  if (H5Lget_info(f.get(), "images", &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD)
    throw data_error(fmt::format("cutout '{}': 'images' is a link, not a dataset stored here", p));
  h5::handle d(H5Dopen2(f.get(), "images", H5P_DEFAULT));
  if (!d) throw data_error(fmt::format("cutout '{}': 'images' cannot be opened", p));
  {
    h5::handle dcpl(H5Dget_create_plist(d.get()));
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL || H5Pget_external_count(dcpl.get()) > 0)
      throw data_error(
          fmt::format("cutout '{}': 'images' keeps its data in other files; refused", p));
  }
  h5::handle sp(H5Dget_space(d.get()));
  const int nd = H5Sget_simple_extent_ndims(sp.get());
  if (nd != 3 && nd != 4)
    throw data_error(
        fmt::format("cutout '{}': images has {} axes, expected (C, H, W) or (N, C, H, W)", p, nd));
  hsize_t dims[4] = {1, 1, 1, 1};
  H5Sget_simple_extent_dims(sp.get(), nd == 4 ? dims : dims + 1, nullptr);
  // Sized from the header only after a 64-bit check against the file's size (a sparse dataset
  // can declare 2^62 pixels in a few kilobytes; deflate's largest ratio is ~1032:1).
  std::uint64_t pixels = 1;
  bool overflow = false;
  for (const hsize_t v : dims) {
    if (v == 0 || v > 2147483647ULL)
      throw data_error(
          fmt::format("cutout '{}': images has an axis of {} (1 to 2^31-1 allowed)", p, v));
    overflow = overflow || __builtin_mul_overflow(pixels, v, &pixels);
  }
  // The caller's limit first (skyssl-serve's uploads): its message names the limit.
  if (max_values > 0 && (overflow || pixels > static_cast<std::uint64_t>(max_values)))
    throw data_error(
        fmt::format("cutout '{}': images of {} x {} x {} x {} are over the limit of "
                    "{} values",
                    p, dims[0], dims[1], dims[2], dims[3], max_values));
  // What the file stores on disk: a sparse file's holes hold no pixels.
  const std::uint64_t file_bytes = stored_bytes(path);
  if (overflow || pixels > std::max<std::uint64_t>(file_bytes, 1) * 1100 / 4)
    throw data_error(fmt::format(
        "cutout '{}': images declares {}x{}x{}x{} pixels, more than a file of {} bytes holds", p,
        dims[0], dims[1], dims[2], dims[3], file_bytes));
  auto out = torch::empty({static_cast<std::int64_t>(dims[0]), static_cast<std::int64_t>(dims[1]),
                           static_cast<std::int64_t>(dims[2]), static_cast<std::int64_t>(dims[3])},
                          torch::kFloat32);
  h5::check_status(
      H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr<float>()),
      fmt::format("reading images of cutout '{}'", p));
  return out;
}

}  // namespace

torch::Tensor read_cutout(const std::filesystem::path& path, std::int64_t max_values) {
  if (!std::filesystem::exists(path))
    throw data_error(fmt::format("cutout '{}' not found", path.string()));
  const auto ext = lower_ext(path);
  torch::Tensor images;
  if (ext == ".h5" || ext == ".hdf5") {
    images = read_h5_cutout(path, max_values);
  } else if (ext == ".fits" || ext == ".fit" || ext == ".fz") {
    std::vector<long> dims;
    auto px = data::read_fits_image(path, dims, max_values);
    const std::int64_t c = dims.size() == 3 ? dims[2] : 1;
    images = torch::from_blob(px.data(), {1, c, dims[1], dims[0]}, torch::kFloat32).clone();
  } else {
    throw data_error(
        fmt::format("cutout '{}': unknown kind '{}'; give a FITS (.fits) or HDF5 (.h5) file",
                    path.string(), ext));
  }
  if (!torch::isfinite(images).all().item<bool>())
    throw data_error(fmt::format("cutout '{}' has NaN or infinite pixels", path.string()));
  return images;
}

torch::Tensor embed_images(model::resnet& encoder, const torch::Tensor& images,
                           const kernels::augment_config& augment, const std::string& space,
                           const std::string& source) {
  const auto& mo = encoder->options();
  if (images.size(1) != mo.in_channels)
    throw data_error(fmt::format("{} has {} bands, the encoder takes {}", source, images.size(1),
                                 mo.in_channels));
  if (images.size(2) < augment.crop_h || images.size(3) < augment.crop_w)
    throw data_error(fmt::format("{} is {}x{} pixels, smaller than the {}x{} crop", source,
                                 images.size(2), images.size(3), augment.crop_h, augment.crop_w));
  if (space != "backbone" && space != "projection")
    throw config_error(
        fmt::format("embedding space must be 'backbone' or 'projection', got '{}'", space));
  auto any_size = augment;
  any_size.input_size = 0;
  torch::NoGradGuard no_grad;
  encoder->eval();
  const auto crops = kernels::center_crop(any_size, images.contiguous());
  return space == "backbone" ? encoder->features(crops) : encoder->forward(crops);
}

}  // namespace skyssl::embed
