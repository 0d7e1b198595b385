// Torch-facing wrapper: checks the tensors, wraps them as unmanaged views and runs the kernels
// in the default execution space.
#include "kernels/augment.hpp"

#include <string>

#include "kernels/augment_kernels.hpp"
#include "kernels/torch_views.hpp"
#include "kernels/view_pool.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::kernels {

namespace {
using exec_t = Kokkos::DefaultExecutionSpace;
using mem_t = exec_t::memory_space;

void check_shape(const augment_config& cfg, const torch::Tensor& images) {
  const auto C = images.size(1), H = images.size(2), W = images.size(3);
  if (C != cfg.bands)
    throw data_error("augment: images have " + std::to_string(C) + " channels but the config (" +
                     cfg.band_names + ") has " + std::to_string(cfg.bands) + " bands");
  if (H < cfg.crop_h || W < cfg.crop_w)
    throw data_error("augment: images " + std::to_string(H) + "x" + std::to_string(W) +
                     " are smaller than the crop " + std::to_string(cfg.crop_h) + "x" +
                     std::to_string(cfg.crop_w));
  if (cfg.input_size != 0 && (H != cfg.input_size || W != cfg.input_size))
    throw data_error("augment: images are " + std::to_string(H) + "x" + std::to_string(W) +
                     " but augment.input_size = " + std::to_string(cfg.input_size));
}
}  // namespace

void augment_two_views_into(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch,
                            const two_views& out) {
  ensure_initialized();
  cfg.validate();
  auto img = view4<mem_t>(images, "images");
  check_shape(cfg, images);
  const auto N = images.size(0);
  batch_views<mem_t> in{img, view1_i64<mem_t>(ids, "ids"), view1<mem_t>(ebv, "ebv"),
                        view2<mem_t>(psf_fwhm, "psf_fwhm")};
  if (ids.size(0) != N || ebv.size(0) != N || psf_fwhm.size(0) != N ||
      psf_fwhm.size(1) != images.size(1))
    throw data_error("augment: batch of " + std::to_string(N) + " images with ids (" +
                     std::to_string(ids.size(0)) + "), ebv (" + std::to_string(ebv.size(0)) +
                     ") and psf_fwhm (" + std::to_string(psf_fwhm.size(0)) + "x" +
                     std::to_string(psf_fwhm.size(1)) + ")");
  const std::vector<std::int64_t> shape{N, images.size(1), cfg.crop_h, cfg.crop_w};
  for (const auto* o : {&out.view1, &out.view2})
    if (!o->defined() || o->sizes() != torch::IntArrayRef(shape))
      throw data_error("augment: output views must be " + std::to_string(N) + "x" +
                       std::to_string(images.size(1)) + "x" + std::to_string(cfg.crop_h) + "x" +
                       std::to_string(cfg.crop_w));
  exec_t exec;
  augment_two_views(exec, cfg, in, seed, epoch, view4<mem_t>(out.view1, "view1"),
                    view4<mem_t>(out.view2, "view2"));
  exec.fence();
}

two_views augment_two_views(const augment_config& cfg, const torch::Tensor& images,
                            const torch::Tensor& ids, const torch::Tensor& ebv,
                            const torch::Tensor& psf_fwhm, std::uint64_t seed, std::int64_t epoch) {
  view4<mem_t>(images, "images");  // dtype, rank, device and layout first
  const auto out =
      new_views(images.size(0), images.size(1), cfg.crop_h, cfg.crop_w, images.options());
  augment_two_views_into(cfg, images, ids, ebv, psf_fwhm, seed, epoch, out);
  return out;
}

torch::Tensor center_crop(const augment_config& cfg, const torch::Tensor& images) {
  ensure_initialized();
  cfg.validate();
  auto img = view4<mem_t>(images, "images");
  check_shape(cfg, images);
  auto out =
      torch::empty({images.size(0), images.size(1), cfg.crop_h, cfg.crop_w}, images.options());
  exec_t exec;
  center_crop(exec, cfg, img, view4<mem_t>(out, "center_crop output"));
  exec.fence();
  return out;
}

}  // namespace skyssl::kernels
