#include "skyssl/train/batch_upload.hpp"

#include <vector>

namespace skyssl::train {

void batch_upload::set_device(const torch::Device& device) {
  if (device == copy_->device()) return;
  staging_.reset();
  copy_ = std::make_unique<device_copy>(device);
  if (copy_->active())
    staging_ = std::make_unique<staging_pool>(slots_, [this] { return copy_->mark_step(); });
}

data::sample_batch batch_upload::to_device(const data::sample_batch& s,
                                           std::shared_ptr<void>* hold) {
  if (!copy_->active()) return s;
  std::vector<torch::Tensor> host = {s.images, s.ids, s.ebv, s.psf_fwhm};
  if (hold) {
    // Stage in a pinned slot: the upload is then an asynchronous copy on the side stream while
    // the current step computes.
    auto slot = staging_->acquire();
    bool fits = slot->size() == host.size();
    for (std::size_t k = 0; fits && k < host.size(); ++k)
      fits = (*slot)[k].sizes() == host[k].sizes() && (*slot)[k].dtype() == host[k].dtype();
    if (!fits) {
      slot->clear();
      for (const auto& h : host) slot->push_back(copy_->host_buffer(h.sizes(), h.scalar_type()));
    }
    for (std::size_t k = 0; k < host.size(); ++k) (*slot)[k].copy_(host[k]);
    host = *slot;
    *hold = slot;
  }
  auto f = copy_->upload(host);
  copy_->ready(f);  // this thread's current stream (the kernels' and the step's) waits for it
  data::sample_batch d = s;
  d.images = f.tensors[0];
  d.ids = f.tensors[1];
  d.ebv = f.tensors[2];
  d.psf_fwhm = f.tensors[3];
  return d;
}

}  // namespace skyssl::train
