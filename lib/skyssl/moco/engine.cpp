#include "skyssl/moco/engine.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/nn/functional.h>
#include <torch/utils.h>
#include <torch/nn/module.h>

#include <chrono>

#include "skyssl/core/error.hpp"
#include "skyssl/core/philox.hpp"

namespace skyssl::moco {
namespace {

torch::Tensor l2_normalize(const torch::Tensor& x) {
  return torch::nn::functional::normalize(
      x, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
}

void copy_state(torch::nn::Module& to, const torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto tp = to.parameters(), fp = from.parameters();
  for (std::size_t i = 0; i < tp.size(); ++i) tp[i].copy_(fp[i]);
  auto tb = to.buffers(), fb = from.buffers();
  for (std::size_t i = 0; i < tb.size(); ++i) tb[i].copy_(fb[i]);
}

}  // namespace

gradient_reducer flat_all_reduce_mean(dist::communicator& comm) {
  return [&comm](std::vector<torch::Tensor>& grads) {
    if (comm.world() == 1 || grads.empty()) return;
    // One message for all gradients: latency dominates small tensors on the MPI backend.
    std::vector<torch::Tensor> flat;
    flat.reserve(grads.size());
    for (auto& g : grads) flat.push_back(g.reshape({-1}));
    auto buf = torch::cat(flat);
    comm.all_reduce_mean(buf);
    std::int64_t off = 0;
    for (auto& g : grads) {
      g.copy_(buf.narrow(0, off, g.numel()).view_as(g));
      off += g.numel();
    }
  };
}

torch::Tensor moco_logits(const torch::Tensor& q, const torch::Tensor& k,
                          const torch::Tensor& queue, double T) {
  auto pos = (q * k).sum(1, /*keepdim=*/true);  // (B,1)
  auto neg = torch::mm(q, queue.t());           // (B,K)
  return torch::cat({pos, neg}, 1) / T;
}

torch::Tensor info_nce(const torch::Tensor& logits) {
  auto labels = torch::zeros({logits.size(0)}, logits.options().dtype(torch::kLong));
  return torch::nn::functional::cross_entropy(logits, labels);
}

void momentum_update(std::vector<torch::Tensor>& key, const std::vector<torch::Tensor>& query,
                     double m) {
  torch::NoGradGuard no_grad;
  if (key.size() != query.size())
    throw error(fmt::format("momentum update: key encoder has {} parameters, query encoder {}",
                            key.size(), query.size()));
  if (key.empty()) return;
  torch::_foreach_mul_(key, m);
  torch::_foreach_add_(key, query, 1.0 - m);
}

void momentum_update(torch::nn::Module& key, const torch::nn::Module& query, double m) {
  auto kp = key.parameters();
  momentum_update(kp, query.parameters(), m);
}

torch::Tensor encode_chunked(model::resnet& f, const torch::Tensor& x, std::int64_t group) {
  const std::int64_t n = x.size(0);
  if (group <= 0 || group >= n) return f->forward(x);
  if (n % group != 0)
    throw config_error(
        fmt::format("moco.bn_group = {} must divide the per-rank batch ({})", group, n));
  std::vector<torch::Tensor> out;
  out.reserve(static_cast<std::size_t>(n / group));
  for (std::int64_t s = 0; s < n; s += group) out.push_back(f->forward(x.narrow(0, s, group)));
  return torch::cat(out, 0);
}

torch::Tensor shuffle_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t step,
                                  std::int64_t n) {
  auto perm = torch::arange(n, torch::kLong);
  auto* p = perm.data_ptr<std::int64_t>();
  const rng::stream_key key{seed, static_cast<std::uint64_t>(epoch),
                            static_cast<std::uint64_t>(step), 0, rng::shuffle_bn};
  // Fisher-Yates; 53-bit uniforms make the modulo bias irrelevant.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto w = rng::draw(key, static_cast<std::uint32_t>(i));
    const auto j =
        static_cast<std::int64_t>(rng::to_unit_double(w.v[0], w.v[1]) * static_cast<double>(i + 1));
    std::swap(p[i], p[std::min(j, i)]);
  }
  return perm;
}

std::vector<std::int64_t> key_positions(std::uint64_t seed, std::int64_t epoch, std::int64_t step,
                                        std::int64_t local_batch, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world || local_batch < 1)
    throw error(fmt::format("key_positions: rank {} of {} with local batch {} is invalid", rank,
                            world, local_batch));
  const auto perm = shuffle_permutation(seed, epoch, step, local_batch * world);
  const auto* p = perm.data_ptr<std::int64_t>() + rank * local_batch;
  return {p, p + local_batch};
}

engine::engine(const model::resnet_options& model_opts, const moco_options& opts,
               std::int64_t local_batch, dist::communicator& comm, torch::Device device)
    : opts_(opts),
      local_batch_(local_batch),
      bn_group_(resolve_bn_group(opts.bn_group, local_batch)),
      comm_(comm),
      device_(device),
      reducer_(flat_all_reduce_mean(comm)) {
  check_queue_fits(opts.K, local_batch * comm.world());
  auto mo = model_opts;
  mo.head_dim = static_cast<int>(opts.dim);
  encoder_q_ = model::resnet(mo);
  encoder_k_ = model::resnet(mo);
  encoder_q_->to(device);
  encoder_k_->to(device);
  copy_state(*encoder_k_, *encoder_q_);
  for (auto& p : encoder_k_->parameters()) p.set_requires_grad(false);
  queue_ = key_queue(opts.K, opts.dim, opts.seed);
  queue_.keys() = queue_.keys().to(device);
}

torch::Tensor engine::encode_keys(const torch::Tensor& view2, std::int64_t epoch,
                                  std::int64_t step) {
  torch::NoGradGuard no_grad;
  const int R = comm_.world(), r = comm_.rank();
  const std::int64_t B = view2.size(0);
  const auto mode = opts_.shuffle_bn;
  if (mode == shuffle_mode::off) {
    // Each rank its own images: only the keys travel.
    auto k = l2_normalize(encode_chunked(encoder_k_, view2, bn_group_));
    return R == 1 ? k : comm_.all_gather(k);
  }
  // Shuffle BN: the key encoder's BN groups mix images from all ranks, so a query and its key
  // never share batch statistics (which would leak the positive through BN).
  const auto perm = shuffle_permutation(opts_.seed, epoch, step, B * R).to(view2.device());
  torch::Tensor mine;  // this rank's slice of the permuted global batch
  if (mode == shuffle_mode::local) {
    mine = view2;  // the input pipeline built it (key_positions)
  } else if (R == 1) {
    mine = view2.index_select(0, perm);
  } else {
    // gather: every rank receives every image, and encodes 1/R of them.
    mine = comm_.all_gather(view2.contiguous()).index_select(0, perm.narrow(0, r * B, B));
  }
  auto k = l2_normalize(encode_chunked(encoder_k_, mine, bn_group_));
  auto kg = R == 1 ? k : comm_.all_gather(k);
  // kg[i] is the key of global sample perm[i].
  auto out = torch::empty_like(kg);
  out.index_copy_(0, perm, kg);
  return out;
}

engine::forward_out engine::forward(const torch::Tensor& view1, const torch::Tensor& view2,
                                    std::int64_t epoch, std::int64_t step, bool update_key_encoder,
                                    step_times* times) {
  using clock = std::chrono::steady_clock;
  auto t = clock::now();
  auto lap = [&t](double* slot) {
    const auto now = clock::now();
    if (slot) *slot += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  step_times unused;
  step_times& st = times ? *times : unused;
  if (view1.size(0) != local_batch_ || view2.size(0) != local_batch_)
    throw error(fmt::format("moco step: views have {} and {} rows, expected the local batch {}",
                            view1.size(0), view2.size(0), local_batch_));
  auto v1 = view1.to(device_), v2 = view2.to(device_);
  if (channels_last_) {
    v1 = v1.contiguous(torch::MemoryFormat::ChannelsLast);
    v2 = v2.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  lap(&st.to_device);
  auto q = l2_normalize(encode_chunked(encoder_q_, v1, bn_group_));
  lap(&st.query_forward);
  if (update_key_encoder) momentum_update(*encoder_k_, *encoder_q_, opts_.m);
  forward_out out;
  out.keys_global = encode_keys(v2, epoch, step);
  auto k = out.keys_global.narrow(0, comm_.rank() * local_batch_, local_batch_);
  lap(&st.key_path);
  // The queue is read here and only overwritten by enqueue() after backward: the snapshot is
  // the queue before this step's keys.
  out.logits = moco_logits(q, k, queue_.keys(), opts_.T);
  out.loss = info_nce(out.logits);
  lap(&st.loss);
  return out;
}

torch::Tensor engine::loss(const torch::Tensor& view1, const torch::Tensor& view2,
                           std::int64_t epoch, std::int64_t step) {
  torch::NoGradGuard no_grad;
  return forward(view1, view2, epoch, step, false, nullptr).loss;
}

step_result engine::train_step(const torch::Tensor& view1, const torch::Tensor& view2,
                               std::int64_t epoch, std::int64_t step,
                               torch::optim::Optimizer& opt) {
  using clock = std::chrono::steady_clock;
  step_result r;
  encoder_q_->train();
  encoder_k_->train();
  opt.zero_grad();
  auto out = forward(view1, view2, epoch, step, true, &r.times);
  auto t = clock::now();
  auto lap = [&t](double& slot) {
    const auto now = clock::now();
    slot += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  scaler_.scale_loss(out.loss).backward();
  lap(r.times.backward);
  std::vector<torch::Tensor> grads;
  for (auto& p : encoder_q_->parameters())
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  reducer_(grads);
  lap(r.times.grad_sync);
  // After the all-reduce: every rank sees the same sums, so all skip or none does.
  const bool finite = scaler_.unscale(grads);
  if (finite) opt.step();
  scaler_.update(finite);
  r.skipped = !finite;
  lap(r.times.optimizer);
  queue_.enqueue(out.keys_global);
  r.loss = out.loss.item<double>();
  r.acc1 = out.logits.argmax(1).eq(0).to(torch::kFloat64).mean().item<double>();
  r.logits = out.logits.detach();
  lap(r.times.enqueue);
  return r;
}

void engine::set_channels_last(bool on) {
  torch::NoGradGuard no_grad;
  const auto fmt = on ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  for (auto* m : {&encoder_q_, &encoder_k_})
    for (auto& p : (*m)->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
  channels_last_ = on;
}

void engine::broadcast_state(int root) {
  torch::NoGradGuard no_grad;
  for (auto* m : {&encoder_q_, &encoder_k_}) {
    for (auto t : (*m)->parameters()) comm_.broadcast(t, root);
    for (auto t : (*m)->buffers()) comm_.broadcast(t, root);
  }
  comm_.broadcast(queue_.keys(), root);
}

void engine::average_bn_buffers() {
  torch::NoGradGuard no_grad;
  if (comm_.world() == 1) return;
  for (auto* m : {&encoder_q_, &encoder_k_})
    for (auto& kv : (*m)->named_buffers()) {
      const auto& name = kv.key();
      if (name.size() >= 12 && (name.rfind("running_mean") == name.size() - 12 ||
                                name.rfind("running_var") == name.size() - 11)) {
        auto t = kv.value();
        comm_.all_reduce_mean(t);
      }
    }
}

}  // namespace skyssl::moco
