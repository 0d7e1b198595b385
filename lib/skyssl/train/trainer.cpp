#include "skyssl/train/trainer.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <sstream>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/dist/gradient_bucketer.hpp"
#include "skyssl/model/weights.hpp"
#include "skyssl/model/autocast.hpp"
#include "skyssl/train/checkpoint_writer.hpp"
#include "skyssl/train/device_plan.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/train/metrics.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/stop_signals.hpp"

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
  const auto dopts = dist::options::from_config(cfg);
  s.check_every = dopts.check_every;
  s.schedule = make_lr_schedule(s.opts, steps_per_epoch);
  s.checkpointing = checkpoint_options_from(cfg, "checkpoint");
  if (s.opts.threads > 0) torch::set_num_threads(static_cast<int>(s.opts.threads));
  const std::int64_t local = local_batch_size(s.opts.global_batch, comm.world());
  const device_plan plan = plan_device(s.opts, comm);
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

namespace {

// What the ranks decide together after a step.
struct step_decision {
  int stop_signal = 0;        // 0, SIGUSR1 (stands for USR1/TERM: checkpoint and requeue) or SIGINT
  bool time_due = false;      // rank 0's clock says a checkpoint is due
  bool write_failed = false;  // rank 0's background write failed
};

// One small all-reduce per step: a signal may reach any rank (srun forwards it to all, a user's
// kill to one), and only an agreed decision leaves no rank behind in a collective.
step_decision agree(dist::communicator& comm, const torch::Device& device, bool time_due,
                    bool write_failed) {
  const int sig = pending_stop_signal();
  step_decision d;
  double flags[4] = {sig != 0 && sig != SIGINT ? 1.0 : 0.0, sig == SIGINT ? 1.0 : 0.0,
                     time_due ? 1.0 : 0.0, write_failed ? 1.0 : 0.0};
  if (comm.world() > 1) {
    auto t = torch::from_blob(flags, {4}, torch::kFloat64)
                 .to(device, /*non_blocking=*/false,
                     /*copy=*/true);
    comm.all_reduce_sum(t);
    t = t.cpu();
    for (int i = 0; i < 4; ++i) flags[i] = t[i].item<double>();
  }
  // Requeue wins over Ctrl-C: a scheduler's signal means the job will come back.
  d.stop_signal = flags[0] > 0 ? SIGUSR1 : flags[1] > 0 ? SIGINT : 0;
  d.time_due = flags[2] > 0;
  d.write_failed = flags[3] > 0;
  return d;
}

}  // namespace

run_summary train(train_state& s, view_source& source, dist::communicator& comm,
                  const std::filesystem::path& run_dir) {
  const auto& o = s.opts;
  const std::int64_t spe = s.steps_per_epoch;
  const std::int64_t total = s.schedule.total_steps;
  const std::int64_t remaining = std::max<std::int64_t>(0, total - s.global_step);
  const bool root = comm.rank() == 0;
  const auto device = s.moco->encoder_q()->parameters()[0].device();
  metrics_writer metrics(run_dir, root);
  checkpoint_writer writer(checkpoints_dir(run_dir), s.checkpointing.keep);
  log::info(
      "training {} steps ({} epochs x {} steps, global batch {} = {} ranks x {}, "
      "bn_group {}), peak lr {:.4g}, warm-up {} steps{}",
      total, o.epochs, spe, o.global_batch, comm.world(), s.moco->local_batch(), s.moco->bn_group(),
      s.schedule.peak, s.schedule.warmup_steps,
      s.global_step > 0 ? fmt::format(", continuing after step {}", s.global_step) : "");

  run_summary sum;
  const auto t_start = clock_type::now();
  auto t_interval = t_start, t_checkpoint = t_start;
  double wait_at_interval = 0;
  std::int64_t nonfinite_interval = 0;  // data.nonfinite = "zero": pixels zeroed on this rank
  double checkpoint_seconds_before = 0;
  std::string stop_event;
  auto checkpoint = [&](bool synchronous) {
    const auto t0 = clock_type::now();
    checkpoint_data c = snapshot_state(s, comm);
    if (root) {
      writer.submit(std::move(c));
      if (synchronous) writer.wait();
    }
    // Nobody leaves (and exits) before rank 0 has the checkpoint on disk: a launcher that sees
    // one rank exit may kill the others.
    if (synchronous) comm.barrier();
    ++sum.checkpoints;
    sum.checkpoint_seconds += since(t0);
    t_checkpoint = clock_type::now();
  };
  source.set_key_views(s.moco_opts.shuffle_bn, s.moco_opts.seed);
  // The input's copy stage and augmentation run on the training device (identity on the CPU).
  source.set_device(device);
  // data.cache = memory: the rows of batch k are exchanged here, on this thread, `ahead`
  // batches before the pipeline thread can ask for them (pipeline.hpp: at most prefetch + 1 in
  // flight), so every rank runs the same exchanges in the same order.
  const bool exchanges = source.exchanges_on_main_thread();
  const std::int64_t ahead = std::max<std::int64_t>(1, o.prefetch) + 1;
  const std::int64_t first_epoch = s.epoch, first_step = s.step;
  auto exchange = [&](std::int64_t k) {  // the k-th batch of this call
    const std::int64_t at = first_step + k;
    source.main_thread_exchange(first_epoch + at / spe, at % spe);
  };
  if (exchanges)
    for (std::int64_t k = 0; k < std::min(ahead, remaining); ++k) exchange(k);
  pipeline pipe(source, s.epoch, s.step, remaining, static_cast<int>(o.prefetch), device);
  // Phases of the steps since the last metrics record (timing only: not checkpointed).
  phase_times interval_phases;
  std::int64_t interval_phase_steps = 0;
  for (std::int64_t i = 0; i < remaining; ++i) {
    const auto t_step = clock_type::now();
    phase_times ph;
    const double lr = s.schedule.at(s.global_step);
    set_lr(*s.optimizer, lr);
    view_batch b = pipe.next();
    nonfinite_interval += b.nonfinite_pixels;
    if (exchanges && i + ahead < remaining) exchange(i + ahead);
    ph[phase::read_wait] = since(t_step);
    ph[phase::read] = b.read_s;
    ph[phase::augment] = b.augment_s;
    const auto r = s.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s.optimizer);
    ph.add(r.times);
    if (!std::isfinite(r.loss))
      throw error(
          fmt::format("loss is {} at epoch {} step {}: lower train.base_lr or check the "
                      "input data",
                      r.loss, b.epoch, b.step));
    // Steps done before this one times the global batch: how much of the queue is real keys.
    const bool queue_full = s.global_step * s.moco->global_batch() >= s.moco->queue().size();
    if (queue_full && sum.first_loss_step == 0) {
      sum.first_loss = r.loss;
      sum.first_loss_step = s.global_step + 1;
    }
    sum.last_loss = r.loss;
    s.interval.loss += r.loss;
    s.interval.acc1 += r.acc1;
    ++s.interval.steps;
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
    const bool record_due = s.global_step % o.log_every == 0 || i + 1 == remaining;
    const auto t_tail = clock_type::now();  // what follows counts as this step's tail
    if (record_due) {
      // This step's phases so far count in the record that closes with it.
      ph[phase::other] = std::max(
          0.0, std::chrono::duration<double>(t_tail - t_step).count() - ph.main_thread_sum());
      interval_phases += ph;
      ++interval_phase_steps;
      sum.phases += ph;
      // Averages over all ranks: the record is the same whatever the rank count.
      const auto n = static_cast<double>(s.interval.steps);
      const auto np = static_cast<double>(std::max<std::int64_t>(1, interval_phase_steps));
      std::vector<double> vals = {s.interval.loss / n, s.interval.acc1 / n,
                                  (pipe.wait_seconds() - wait_at_interval) / n,
                                  static_cast<double>(nonfinite_interval) * comm.world()};
      for (double x : interval_phases.s) vals.push_back(x / np);
      auto t = torch::tensor(vals, torch::kFloat64);
      t = t.to(device);
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
      rec.nonfinite_pixels = std::llround(t[3].item<double>());  // mean x world = sum
      nonfinite_interval = 0;
      for (int k = 0; k < phase_count; ++k)
        rec.phases.s[static_cast<std::size_t>(k)] = t[4 + k].item<double>();
      rec.lr = lr;
      const double dt = since(t_interval);
      rec.step_s = dt / n;
      rec.images_per_s = static_cast<double>(o.global_batch) * n / dt;
      rec.elapsed_s = since(t_start);
      rec.eta_s =
          rec.elapsed_s / static_cast<double>(i + 1) * static_cast<double>(remaining - i - 1);
      metrics.write(rec);
      log::info("{}", progress_line(rec));
      s.interval = {};
      interval_phases = {};
      interval_phase_steps = 0;
      wait_at_interval = pipe.wait_seconds();
      t_interval = clock_type::now();
    }
    const auto& c = s.checkpointing;
    const bool time_due =
        root && c.every_minutes > 0 && since(t_checkpoint) >= 60.0 * c.every_minutes;
    const auto d = agree(comm, device, time_due, root && writer.failed());
    if (d.write_failed) {
      if (root) writer.wait();  // throws rank 0's error, which names the file
      throw checkpoint_error("rank 0 could not write a checkpoint (its message names the file)");
    }
    const bool last = i + 1 == remaining;
    const bool step_due = c.every_steps > 0 && s.global_step % c.every_steps == 0;
    if (d.stop_signal != 0 || last) {
      checkpoint(/*synchronous=*/true);
      if (d.stop_signal != 0 && !last) {
        sum.stop_signal = d.stop_signal;
        sum.steps = i + 1;
        // Written after the summary: the stop stays the run's last record.
        stop_event = fmt::format(
            R"({{"step": {}, "signal": "{}", "checkpoint": "{}"}})", s.global_step,
            d.stop_signal == SIGINT ? "SIGINT" : "SIGUSR1/SIGTERM", checkpoint_name(s.global_step));
      }
    } else if (step_due || d.time_due) {
      checkpoint(/*synchronous=*/false);
    }
    // Steps closed by a record were counted there; their tail (the record itself, agreement,
    // checkpoint) goes to the next interval.
    phase_times tail;
    const double ck = sum.checkpoint_seconds - checkpoint_seconds_before;
    checkpoint_seconds_before = sum.checkpoint_seconds;
    if (record_due) {
      tail[phase::checkpoint] = ck;
      tail[phase::other] = std::max(0.0, since(t_tail) - ck);
    } else {
      tail = ph;
      tail[phase::checkpoint] = ck;
      tail[phase::other] = std::max(0.0, since(t_step) - tail.main_thread_sum());
      ++interval_phase_steps;
    }
    interval_phases += tail;
    sum.phases += tail;
    sum.steps = i + 1;
    if (d.stop_signal != 0 && !last) break;
  }
  sum.seconds = since(t_start);
  sum.wait_seconds = pipe.wait_seconds();
  if (sum.steps > 0) {
    phase_times per_step = sum.phases;
    for (auto& x : per_step.s) x /= static_cast<double>(sum.steps);
    metrics.write_summary(sum.steps, sum.seconds, per_step);
    log::info("where the time went ({} steps, {:.3f} s per step): {}", sum.steps,
              sum.seconds / static_cast<double>(sum.steps),
              phase_breakdown(sum.phases, sum.seconds));
  }
  if (!stop_event.empty()) metrics.write_event("stop", stop_event);
  return sum;
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
