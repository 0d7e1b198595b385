#include "skyssl/train/trainer.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include <sstream>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/model/autocast.hpp"
#include "skyssl/model/weights.hpp"
#include "skyssl/train/device_plan.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/train/metrics.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/stop_signals.hpp"

namespace skyssl::train {
train_state::train_state() = default;
train_state::~train_state() = default;
train_state::train_state(train_state&&) = default;
train_state& train_state::operator=(train_state&&) = default;

train_state make_state(const run_options& o, dist::communicator& comm, int in_channels,
                       std::int64_t steps_per_epoch) {
  train_state s;
  s.cfg = o.cfg;
  s.opts = o.train;
  s.model_opts = o.model;
  s.model_opts.in_channels = in_channels;
  s.moco_opts = o.moco;
  s.steps_per_epoch = steps_per_epoch;
  const auto& dopts = o.dist;
  s.check_every = dopts.check_every;
  s.schedule = make_lr_schedule(s.opts, steps_per_epoch);
  s.checkpointing = o.checkpoint;
  if (s.opts.threads > 0) torch::set_num_threads(static_cast<int>(s.opts.threads));
  const std::int64_t local = local_batch_size(s.opts.global_batch, comm.world());
  const device_plan& plan = o.plan;
  const torch::Device device = plan.device;  // explicit index for CUDA
  apply_device_settings(s.opts, plan);       // cuDNN autotuning
  // Same initial weights everywhere, then rank 0's broadcast makes it a guarantee (a
  // different LibTorch build on some node would otherwise diverge silently).
  torch::manual_seed(s.opts.seed);
  s.moco = std::make_unique<moco::engine>(s.model_opts, s.moco_opts, local, comm, device);
  if (!s.opts.init_weights.empty()) {
    // Both encoders: the key encoder starts as the query encoder, as after a random init.
    const bool head = model::load_torchvision_weights(s.moco->encoder_q(), s.opts.init_weights);
    model::load_torchvision_weights(s.moco->encoder_k(), s.opts.init_weights);
    if (comm.rank() == 0)
      log::info("train.init_weights: encoders start from '{}'{}", s.opts.init_weights,
                head ? " (with its projection head)" : " (backbone; the head is freshly drawn)");
  }
  s.moco->broadcast_state(0);
  // Mixed precision inside the encoders only: logits, loss, queue and optimiser stay fp32.
  for (auto* e : {&s.moco->encoder_q(), &s.moco->encoder_k()})
    (*e)->set_autocast(model::autocast_dtype(s.opts.precision));
  // After the broadcast (collectives get the default layout): the values are the same.
  s.moco->set_channels_last(s.opts.channels_last_on());
  if (s.opts.precision == "fp16")
    s.moco->set_loss_scaler(
        moco::loss_scaler({true, s.opts.loss_scale, s.opts.loss_scale_growth_interval}));
  s.optimizer = std::make_unique<torch::optim::SGD>(s.moco->encoder_q()->parameters(),
                                                    torch::optim::SGDOptions(s.opts.peak_lr())
                                                        .momentum(s.opts.momentum)
                                                        .weight_decay(s.opts.weight_decay));
  if (comm.world() > 1 && dopts.grad_sync == "bucketed") {
    // Overlaps the all-reduce with backward; the engine calls finish() where it would reduce.
    // (flat: the engine's default reducer, one all-reduce after backward.)
    const double bucket_mb = dopts.bucket_mb;
    s.grad_sync = std::make_unique<dist::gradient_bucketer>(comm, s.moco->encoder_q()->parameters(),
                                                            bucket_mb);
    auto* sync = s.grad_sync.get();
    s.moco->set_gradient_reducer([sync](std::vector<torch::Tensor>&) { sync->finish(); });
  }
  return s;
}

void with_averaged_bn(train_state& s, const std::function<void()>& f) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> own;
  for (auto* m : {&s.moco->encoder_q(), &s.moco->encoder_k()})
    for (auto& b : (*m)->buffers()) own.push_back(b.clone());
  s.moco->average_bn_buffers();  // collective: every rank calls it
  std::exception_ptr failure;
  try {
    f();
  } catch (...) {
    failure = std::current_exception();
  }
  std::size_t i = 0;
  for (auto* m : {&s.moco->encoder_q(), &s.moco->encoder_k()})
    for (auto& b : (*m)->buffers()) b.copy_(own[i++]);
  if (failure) std::rethrow_exception(failure);
}

void save_weights(train_state& s, dist::communicator& comm, const std::filesystem::path& run_dir) {
  with_averaged_bn(s, [&] {
    if (comm.rank() != 0) return;
    // Serialised in memory first: LibTorch's file writer aborts the process when the disk
    // fills (it throws again from a destructor); replace_file reports it and keeps the old file.
    std::ostringstream weights, queue;
    torch::save(s.moco->encoder_q(), weights);
    std::vector<torch::Tensor> q = {s.moco->queue().keys().cpu(),
                                    torch::tensor({s.moco->queue().ptr()}, torch::kLong)};
    torch::save(q, queue);
    replace_file(run_dir / "weights.pt", weights.str());
    replace_file(run_dir / "queue.pt", queue.str());
    // What skyssl's own tools read (weights.pt carries code: never read back). Written last, so
    // its presence says every output of the run is there.
    std::string safe;
    model::write_safetensors(
        model::state_tensors(*s.moco->encoder_q()), {{"format", "skyssl-weights"}},
        [&](const void* d, std::size_t n) { safe.append(static_cast<const char*>(d), n); });
    replace_file(run_dir / model::run_weights_name, safe);
  });
}

}  // namespace skyssl::train
