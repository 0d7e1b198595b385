#include "skyssl/train/trainer.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/train/metrics.hpp"

namespace skyssl::train {
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
}

}  // namespace

train_state::train_state() = default;
train_state::~train_state() = default;
train_state::train_state(train_state&&) = default;
train_state& train_state::operator=(train_state&&) = default;

train_state make_state(const skyssl::config& cfg, dist::communicator& comm, int in_channels,
                       std::int64_t steps_per_epoch) {
  train_state s;
  s.cfg = cfg;
  s.opts = train_options_from(cfg, "train");
  s.model_opts = model::resnet_options_from(cfg, "model", in_channels);
  s.moco_opts = moco::moco_options_from(cfg, "moco", s.opts.seed);
  s.model_opts.head_dim = static_cast<int>(s.moco_opts.dim);
  s.steps_per_epoch = steps_per_epoch;
  s.check_every = dist::options::from_config(cfg).check_every;
  if (s.opts.threads > 0) torch::set_num_threads(static_cast<int>(s.opts.threads));
  const std::int64_t local = local_batch_size(s.opts.global_batch, comm.world());
  torch::Device device(torch::kCPU);
  if (s.opts.device == "cuda") {
    if (!torch::cuda::is_available())
      throw config_error("train.device = 'cuda' but LibTorch sees no CUDA device");
    device = torch::Device(torch::kCUDA);
  }
  // Same initial weights everywhere, then rank 0's broadcast makes it a guarantee (a
  // different LibTorch build on some node would otherwise diverge silently).
  torch::manual_seed(s.opts.seed);
  s.moco = std::make_unique<moco::engine>(s.model_opts, s.moco_opts, local, comm, device);
  s.moco->broadcast_state(0);
  s.optimizer = std::make_unique<torch::optim::SGD>(s.moco->encoder_q()->parameters(),
                                                    torch::optim::SGDOptions(s.opts.peak_lr())
                                                        .momentum(s.opts.momentum)
                                                        .weight_decay(s.opts.weight_decay));
  if (comm.world() > 1) {
    // Overlaps the all-reduce with backward; the engine calls finish() where it would reduce.
    const double bucket_mb = dist::options::from_config(cfg).bucket_mb;
    s.grad_sync = std::make_unique<dist::gradient_bucketer>(comm, s.moco->encoder_q()->parameters(),
                                                            bucket_mb);
    auto* sync = s.grad_sync.get();
    s.moco->set_gradient_reducer([sync](std::vector<torch::Tensor>&) { sync->finish(); });
  }
  return s;
}

run_summary train(train_state& s, view_source& source, dist::communicator& comm,
                  const std::filesystem::path& run_dir) {
  const auto& o = s.opts;
  const std::int64_t spe = s.steps_per_epoch;
  std::int64_t total = o.epochs * spe;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  const std::int64_t remaining = total - s.global_step;
  const auto warmup = static_cast<std::int64_t>(std::llround(o.warmup_epochs * spe));
  const double peak = o.peak_lr();
  metrics_writer metrics(run_dir, comm.rank() == 0);
  log::info(
      "training {} steps ({} epochs x {} steps, global batch {} = {} ranks x {}, "
      "bn_group {}), peak lr {:.4g}, warm-up {} steps",
      total, o.epochs, spe, o.global_batch, comm.world(), s.moco->local_batch(), s.moco->bn_group(),
      peak, warmup);

  run_summary sum;
  const auto t_start = clock_type::now();
  auto t_interval = t_start;
  double loss_acc = 0, acc1_acc = 0, wait_at_interval = 0;
  std::int64_t n_acc = 0;
  pipeline pipe(source, s.epoch, s.step, remaining, static_cast<int>(o.prefetch));
  for (std::int64_t i = 0; i < remaining; ++i) {
    const double lr = learning_rate(peak, s.global_step, warmup, total);
    set_lr(*s.optimizer, lr);
    view_batch b = pipe.next();
    const auto r = s.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s.optimizer);
    if (!std::isfinite(r.loss))
      throw error(
          fmt::format("loss is {} at epoch {} step {}: lower train.base_lr or check the "
                      "input data",
                      r.loss, b.epoch, b.step));
    if (i == 0) sum.first_loss = r.loss;
    sum.last_loss = r.loss;
    loss_acc += r.loss;
    acc1_acc += r.acc1;
    ++n_acc;
    ++s.global_step;
    s.epoch = b.epoch;
    s.step = b.step + 1;
    if (s.step == spe) {
      ++s.epoch;
      s.step = 0;
    }
    if (s.check_every > 0 && s.global_step % s.check_every == 0) {
      // Parameters and the queue must be bit-identical on every rank; BN running statistics
      // legitimately differ (each rank sees its own chunks) and are left out.
      dist::check_consistent(comm, s.moco->encoder_q()->parameters(), "query encoder weights",
                             s.global_step);
      dist::check_consistent(comm, s.moco->encoder_k()->parameters(), "key encoder weights",
                             s.global_step);
      dist::check_consistent(comm, {s.moco->queue().keys(), torch::tensor({s.moco->queue().ptr()})},
                             "queue", s.global_step, {"keys", "ptr"});
    }
    if (s.global_step % o.log_every == 0 || i + 1 == remaining) {
      // Averages over all ranks: the record is the same whatever the rank count.
      auto t = torch::tensor(
          {loss_acc / n_acc, acc1_acc / n_acc, (pipe.wait_seconds() - wait_at_interval) / n_acc},
          torch::kFloat64);
      t = t.to(s.moco->encoder_q()->parameters()[0].device());
      comm.all_reduce_mean(t);
      t = t.cpu();
      step_record rec;
      rec.step = s.global_step;
      rec.epoch = b.epoch;
      rec.epoch_step = b.step;
      rec.steps_total = total;
      rec.loss = t[0].item<double>();
      rec.acc1 = t[1].item<double>();
      rec.data_wait_s = t[2].item<double>();
      rec.lr = lr;
      const double dt = since(t_interval);
      rec.step_s = dt / n_acc;
      rec.images_per_s = static_cast<double>(o.global_batch * n_acc) / dt;
      rec.elapsed_s = since(t_start);
      rec.eta_s =
          rec.elapsed_s / static_cast<double>(i + 1) * static_cast<double>(remaining - i - 1);
      metrics.write(rec);
      log::info("{}", progress_line(rec));
      loss_acc = acc1_acc = 0;
      n_acc = 0;
      wait_at_interval = pipe.wait_seconds();
      t_interval = clock_type::now();
    }
  }
  sum.steps = remaining;
  sum.seconds = since(t_start);
  sum.wait_seconds = pipe.wait_seconds();
  return sum;
}

void save_weights(train_state& s, dist::communicator& comm, const std::filesystem::path& run_dir) {
  s.moco->average_bn_buffers();  // collective: every rank calls it
  if (comm.rank() != 0) return;
  torch::save(s.moco->encoder_q(), (run_dir / "weights.pt").string());
  std::vector<torch::Tensor> q = {s.moco->queue().keys().cpu(),
                                  torch::tensor({s.moco->queue().ptr()}, torch::kLong)};
  torch::save(q, (run_dir / "queue.pt").string());
}

}  // namespace skyssl::train
