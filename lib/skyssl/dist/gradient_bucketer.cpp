#include "skyssl/dist/gradient_bucketer.hpp"

#include <fmt/format.h>

#include "skyssl/core/error.hpp"

namespace skyssl::dist {

gradient_bucketer::gradient_bucketer(communicator& comm, std::vector<torch::Tensor> params,
                                     double bucket_mb)
    : comm_(comm), owner_(std::this_thread::get_id()) {
  if (!(bucket_mb > 0))
    throw config_error(fmt::format("dist.bucket_mb must be > 0, got {}", bucket_mb));
  const auto limit = static_cast<std::int64_t>(bucket_mb * 1024 * 1024);
  // Reverse order; a new bucket starts when the current one is full or the dtype/device
  // changes (a bucket is one flat buffer).
  std::int64_t fill_bytes = 0, fill_elems = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const torch::Tensor& p = *it;
    if (!p.defined() || !p.requires_grad()) continue;
    if (!p.is_leaf())
      throw dist_error("gradient_bucketer: parameters must be leaf tensors (got a non-leaf)");
    const bool new_bucket = buckets_.empty() || fill_bytes >= limit ||
                            buckets_.back().buffer.scalar_type() != p.scalar_type() ||
                            buckets_.back().buffer.device() != p.device();
    if (new_bucket) {
      if (!buckets_.empty())
        buckets_.back().buffer = torch::zeros({fill_elems}, buckets_.back().buffer.options());
      buckets_.emplace_back();
      // Placeholder carrying dtype and device until the size is known.
      buckets_.back().buffer = torch::zeros({0}, p.options().requires_grad(false));
      fill_bytes = fill_elems = 0;
    }
    slots_.push_back(slot{p, buckets_.size() - 1, fill_elems, false});
    buckets_.back().slots.push_back(slots_.size() - 1);
    fill_elems += p.numel();
    fill_bytes += p.numel() * p.element_size();
  }
  if (!buckets_.empty())
    buckets_.back().buffer = torch::zeros({fill_elems}, buckets_.back().buffer.options());

  hook_ids_.reserve(slots_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i)
    hook_ids_.push_back(
        slots_[i].param.register_hook([this, i](const torch::Tensor& g) { on_grad(i, g); }));
}

gradient_bucketer::~gradient_bucketer() {
  for (std::size_t i = 0; i < hook_ids_.size(); ++i) slots_[i].param.remove_hook(hook_ids_[i]);
  // Outstanding collectives complete in the pending ops' destructors before buffers go away.
  for (auto& b : buckets_) b.op.reset();
}

void gradient_bucketer::on_grad(std::size_t slot_index, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  slot& s = slots_[slot_index];
  bucket& b = buckets_[s.bucket];
  torch::Tensor view = b.buffer.narrow(0, s.offset, s.param.numel());
  if (s.seen) {
    // A second gradient in one step (two backward passes before finish()).
    if (b.op)
      throw dist_error(
          "gradient_bucketer: a parameter received a gradient after its bucket was sent; call "
          "finish() after every backward()");
    view.add_(grad.reshape({-1}));
    return;
  }
  // The hook sees the incoming gradient before autograd accumulates it into .grad; include
  // what .grad already holds so the result matches plain (accumulating) autograd.
  if (s.param.grad().defined())
    torch::add_out(view, s.param.grad().reshape({-1}), grad.reshape({-1}));
  else
    view.copy_(grad.reshape({-1}));
  s.seen = true;
  if (++b.ready == b.slots.size() && std::this_thread::get_id() == owner_) start_ready_buckets();
  // Let MPI progress buckets already in flight (no asynchronous progress thread in most MPIs).
  if (std::this_thread::get_id() == owner_)
    for (std::size_t i = 0; i < next_to_start_; ++i) buckets_[i].op->test();
}

void gradient_bucketer::start(std::size_t bi) {
  bucket& b = buckets_[bi];
  b.op = comm_.start_all_reduce_sum(b.buffer);
}

void gradient_bucketer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() &&
         buckets_[next_to_start_].ready == buckets_[next_to_start_].slots.size()) {
    start(next_to_start_++);
    ++started_early_;
  }
}

void gradient_bucketer::finish() {
  if (std::this_thread::get_id() != owner_)
    throw dist_error("gradient_bucketer::finish() called from a thread other than its owner");
  torch::NoGradGuard no_grad;
  last_started_early_ = started_early_;
  // Parameters without a gradient this step: their current .grad (or zeros) goes in.
  for (auto& s : slots_) {
    if (s.seen) continue;
    bucket& b = buckets_[s.bucket];
    torch::Tensor view = b.buffer.narrow(0, s.offset, s.param.numel());
    if (s.param.grad().defined())
      view.copy_(s.param.grad().reshape({-1}));
    else
      view.zero_();
    s.seen = true;
    ++b.ready;
  }
  while (next_to_start_ < buckets_.size()) start(next_to_start_++);
  for (auto& b : buckets_) {
    b.op->wait();
    b.op.reset();
    if (comm_.world() > 1) b.buffer.div_(comm_.world());
    for (std::size_t si : b.slots) {
      slot& s = slots_[si];
      torch::Tensor avg = b.buffer.narrow(0, s.offset, s.param.numel()).view(s.param.sizes());
      if (s.param.grad().defined())
        s.param.mutable_grad().copy_(avg);
      else
        s.param.mutable_grad() = avg.clone();
      s.seen = false;
    }
    b.ready = 0;
  }
  next_to_start_ = 0;
  started_early_ = 0;
}

std::function<void(std::vector<torch::Tensor>&)> bucketed_reducer(communicator& comm,
                                                                  std::vector<torch::Tensor> params,
                                                                  double bucket_mb) {
  auto sync = std::make_shared<gradient_bucketer>(comm, std::move(params), bucket_mb);
  return [sync](std::vector<torch::Tensor>&) { sync->finish(); };
}

}  // namespace skyssl::dist
