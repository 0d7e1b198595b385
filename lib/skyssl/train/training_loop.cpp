// train(): the step loop of a run, as one object whose methods each do one thing: take a batch
// and step, check the ranks agree, write a metrics record, decide (with every rank) whether to
// checkpoint or stop, and account for where the time went.
#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <cmath>
#include <csignal>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/consistency.hpp"
#include "skyssl/train/checkpoint_writer.hpp"
#include "skyssl/train/detail/clock.hpp"
#include "skyssl/train/metrics.hpp"
#include "skyssl/train/state_io.hpp"
#include "skyssl/train/stop_signals.hpp"
#include "skyssl/train/trainer.hpp"

namespace skyssl::train {
namespace {

using detail::clock_type;
using detail::since;

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
}

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

class training_loop {
 public:
  training_loop(train_state& s, view_source& source, dist::communicator& comm,
                const std::filesystem::path& run_dir)
      : s_(s),
        source_(source),
        comm_(comm),
        root_(comm.rank() == 0),
        device_(s.moco->encoder_q()->parameters()[0].device()),
        spe_(s.steps_per_epoch),
        total_(s.schedule.total_steps),
        remaining_(std::max<std::int64_t>(0, total_ - s.global_step)),
        metrics_(run_dir, root_),
        writer_(checkpoints_dir(run_dir), s.checkpointing.keep) {}

  run_summary run() {
    announce();
    prepare_input();
    pipeline pipe(source_, s_.epoch, s_.step, remaining_, static_cast<int>(s_.opts.prefetch),
                  device_);
    for (std::int64_t i = 0; i < remaining_; ++i) {
      const bool stop = step(pipe, i);
      sum_.steps = i + 1;
      if (stop) break;
    }
    finish(pipe);
    return sum_;
  }

 private:
  void announce() const {
    const auto& o = s_.opts;
    log::info(
        "training {} steps ({} epochs x {} steps, global batch {} = {} ranks x {}, "
        "bn_group {}), peak lr {:.4g}, warm-up {} steps{}",
        total_, o.epochs, spe_, o.global_batch, comm_.world(), s_.moco->local_batch(),
        s_.moco->bn_group(), s_.schedule.peak, s_.schedule.warmup_steps,
        s_.global_step > 0 ? fmt::format(", continuing after step {}", s_.global_step) : "");
  }

  // The source's key views, its device, and data.cache = memory's first exchanges: the rows of
  // batch k are exchanged on this thread `ahead_` batches before the pipeline thread can ask for
  // them (pipeline.hpp: at most prefetch + 1 in flight), so every rank runs the same exchanges
  // in the same order.
  void prepare_input() {
    source_.set_key_views(s_.moco_opts.shuffle_bn, s_.moco_opts.seed);
    // The input's copy stage and augmentation run on the training device (identity on the CPU).
    source_.set_device(device_);
    exchanges_ = source_.exchanges_on_main_thread();
    ahead_ = std::max<std::int64_t>(1, s_.opts.prefetch) + 1;
    first_epoch_ = s_.epoch;
    first_step_ = s_.step;
    if (exchanges_)
      for (std::int64_t k = 0; k < std::min(ahead_, remaining_); ++k) exchange(k);
  }

  void exchange(std::int64_t k) {  // the k-th batch of this call
    const std::int64_t at = first_step_ + k;
    source_.main_thread_exchange(first_epoch_ + at / spe_, at % spe_);
  }

  // One step, its record, checks and checkpoint; true when a signal stops the run here.
  bool step(pipeline& pipe, std::int64_t i) {
    const auto t_step = clock_type::now();
    phase_times ph;
    const double lr = s_.schedule.at(s_.global_step);
    set_lr(*s_.optimizer, lr);
    view_batch b = pipe.next();
    nonfinite_interval_ += b.nonfinite_pixels;
    if (exchanges_ && i + ahead_ < remaining_) exchange(i + ahead_);
    ph[phase::read_wait] = since(t_step);
    ph[phase::read] = b.read_s;
    ph[phase::augment] = b.augment_s;
    const auto r = s_.moco->train_step(b.view1, b.view2, b.epoch, b.step, *s_.optimizer);
    ph.add(r.times);
    if (!std::isfinite(r.loss))
      throw error(
          fmt::format("loss is {} at epoch {} step {}: lower train.base_lr or check the "
                      "input data",
                      r.loss, b.epoch, b.step));
    advance(b, r.loss, r.acc1);
    check_consistency();
    const bool last = i + 1 == remaining_;
    const bool record_due = s_.global_step % s_.opts.log_every == 0 || last;
    const auto t_tail = clock_type::now();  // what follows counts as this step's tail
    if (record_due) {
      // This step's phases so far count in the record that closes with it.
      ph[phase::other] = std::max(
          0.0, std::chrono::duration<double>(t_tail - t_step).count() - ph.main_thread_sum());
      interval_phases_ += ph;
      ++interval_phase_steps_;
      sum_.phases += ph;
      write_record(pipe, b, lr, i);
    }
    const int stop_signal = checkpoint_or_stop(last);
    account_tail(record_due, ph, t_step, t_tail);
    return stop_signal != 0 && !last;
  }

  // The run's position and loss sums after a step on batch `b`.
  void advance(const view_batch& b, double loss, double acc1) {
    // Steps done before this one times the global batch: how much of the queue is real keys.
    const bool queue_full = s_.global_step * s_.moco->global_batch() >= s_.moco->queue().size();
    if (queue_full && sum_.first_loss_step == 0) {
      sum_.first_loss = loss;
      sum_.first_loss_step = s_.global_step + 1;
    }
    sum_.last_loss = loss;
    s_.interval.loss += loss;
    s_.interval.acc1 += acc1;
    ++s_.interval.steps;
    ++s_.global_step;
    s_.epoch = b.epoch;
    s_.step = b.step + 1;
    if (s_.step == spe_) {
      ++s_.epoch;
      s_.step = 0;
    }
  }

  // dist.check_every: parameters and the queue must be bit-identical on every rank; BN running
  // statistics legitimately differ (each rank sees its own chunks) and are left out.
  void check_consistency() {
    if (s_.check_every <= 0 || s_.global_step % s_.check_every != 0) return;
    dist::check_consistent(comm_, s_.moco->encoder_q()->parameters(), "query encoder weights",
                           s_.global_step);
    dist::check_consistent(comm_, s_.moco->encoder_k()->parameters(), "key encoder weights",
                           s_.global_step);
    dist::check_consistent(comm_,
                           {s_.moco->queue().keys(), torch::tensor({s_.moco->queue().ptr()})},
                           "queue", s_.global_step, {"keys", "ptr"});
  }

  // A metrics record and progress line for the steps since the last one, averaged over all
  // ranks: the record is the same whatever the rank count.
  void write_record(const pipeline& pipe, const view_batch& b, double lr, std::int64_t i) {
    const auto n = static_cast<double>(s_.interval.steps);
    const auto np = static_cast<double>(std::max<std::int64_t>(1, interval_phase_steps_));
    std::vector<double> vals = {s_.interval.loss / n, s_.interval.acc1 / n,
                                (pipe.wait_seconds() - wait_at_interval_) / n,
                                static_cast<double>(nonfinite_interval_) * comm_.world()};
    for (double x : interval_phases_.s) vals.push_back(x / np);
    auto t = torch::tensor(vals, torch::kFloat64);
    t = t.to(device_);
    comm_.all_reduce_mean(t);
    t = t.cpu();
    step_record rec;
    rec.step = s_.global_step;
    rec.epoch = b.epoch;
    rec.epoch_step = b.step;
    rec.steps_total = total_;
    rec.loss = t[0].item<double>();
    rec.acc1 = t[1].item<double>();
    rec.data_wait_s = t[2].item<double>();
    rec.nonfinite_pixels = std::llround(t[3].item<double>());  // mean x world = sum
    nonfinite_interval_ = 0;
    for (int k = 0; k < phase_count; ++k)
      rec.phases.s[static_cast<std::size_t>(k)] = t[4 + k].item<double>();
    rec.lr = lr;
    const double dt = since(t_interval_);
    rec.step_s = dt / n;
    rec.images_per_s = static_cast<double>(s_.opts.global_batch) * n / dt;
    rec.elapsed_s = since(t_start_);
    rec.eta_s =
        rec.elapsed_s / static_cast<double>(i + 1) * static_cast<double>(remaining_ - i - 1);
    metrics_.write(rec);
    log::info("{}", progress_line(rec));
    s_.interval = {};
    interval_phases_ = {};
    interval_phase_steps_ = 0;
    wait_at_interval_ = pipe.wait_seconds();
    t_interval_ = clock_type::now();
  }

  // Agrees with every rank on signals, rank 0's clock and its writer, then checkpoints: at the
  // last step or a stop (synchronously), or when due by steps or minutes (in the background).
  // Returns the agreed stop signal (0: none).
  int checkpoint_or_stop(bool last) {
    const auto& c = s_.checkpointing;
    const bool time_due =
        root_ && c.every_minutes > 0 && since(t_checkpoint_) >= 60.0 * c.every_minutes;
    const auto d = agree(comm_, device_, time_due, root_ && writer_.failed());
    if (d.write_failed) {
      if (root_) writer_.wait();  // throws rank 0's error, which names the file
      throw checkpoint_error("rank 0 could not write a checkpoint (its message names the file)");
    }
    const bool step_due = c.every_steps > 0 && s_.global_step % c.every_steps == 0;
    if (d.stop_signal != 0 || last) {
      checkpoint(/*synchronous=*/true);
      if (d.stop_signal != 0 && !last) {
        sum_.stop_signal = d.stop_signal;
        // Written after the summary: the stop stays the run's last record.
        stop_event_ =
            fmt::format(R"({{"step": {}, "signal": "{}", "checkpoint": "{}"}})", s_.global_step,
                        d.stop_signal == SIGINT ? "SIGINT" : "SIGUSR1/SIGTERM",
                        checkpoint_name(s_.global_step));
      }
    } else if (step_due || d.time_due) {
      checkpoint(/*synchronous=*/false);
    }
    return d.stop_signal;
  }

  void checkpoint(bool synchronous) {
    const auto t0 = clock_type::now();
    checkpoint_data c = snapshot_state(s_, comm_);
    if (root_) {
      writer_.submit(std::move(c));
      if (synchronous) writer_.wait();
    }
    // Nobody leaves (and exits) before rank 0 has the checkpoint on disk: a launcher that sees
    // one rank exit may kill the others.
    if (synchronous) comm_.barrier();
    ++sum_.checkpoints;
    sum_.checkpoint_seconds += since(t0);
    t_checkpoint_ = clock_type::now();
  }

  // Steps closed by a record were counted there; their tail (the record itself, agreement,
  // checkpoint) goes to the next interval.
  void account_tail(bool record_due, const phase_times& ph, clock_type::time_point t_step,
                    clock_type::time_point t_tail) {
    phase_times tail;
    const double ck = sum_.checkpoint_seconds - checkpoint_seconds_before_;
    checkpoint_seconds_before_ = sum_.checkpoint_seconds;
    if (record_due) {
      tail[phase::checkpoint] = ck;
      tail[phase::other] = std::max(0.0, since(t_tail) - ck);
    } else {
      tail = ph;
      tail[phase::checkpoint] = ck;
      tail[phase::other] = std::max(0.0, since(t_step) - tail.main_thread_sum());
      ++interval_phase_steps_;
    }
    interval_phases_ += tail;
    sum_.phases += tail;
  }

  // The summary record, the time breakdown and the stop event.
  void finish(const pipeline& pipe) {
    sum_.seconds = since(t_start_);
    sum_.wait_seconds = pipe.wait_seconds();
    if (sum_.steps > 0) {
      phase_times per_step = sum_.phases;
      for (auto& x : per_step.s) x /= static_cast<double>(sum_.steps);
      metrics_.write_summary(sum_.steps, sum_.seconds, per_step);
      log::info("where the time went ({} steps, {:.3f} s per step): {}", sum_.steps,
                sum_.seconds / static_cast<double>(sum_.steps),
                phase_breakdown(sum_.phases, sum_.seconds));
    }
    if (!stop_event_.empty()) metrics_.write_event("stop", stop_event_);
  }

  train_state& s_;
  view_source& source_;
  dist::communicator& comm_;
  const bool root_;
  const torch::Device device_;
  const std::int64_t spe_, total_, remaining_;
  metrics_writer metrics_;
  checkpoint_writer writer_;
  run_summary sum_;
  const clock_type::time_point t_start_ = clock_type::now();
  clock_type::time_point t_interval_ = t_start_, t_checkpoint_ = t_start_;
  double wait_at_interval_ = 0;
  std::int64_t nonfinite_interval_ = 0;  // data.nonfinite = "zero": pixels zeroed on this rank
  double checkpoint_seconds_before_ = 0;
  std::string stop_event_;
  bool exchanges_ = false;
  std::int64_t ahead_ = 1, first_epoch_ = 0, first_step_ = 0;
  // Phases of the steps since the last metrics record (timing only: not checkpointed).
  phase_times interval_phases_;
  std::int64_t interval_phase_steps_ = 0;
};

}  // namespace

run_summary train(train_state& state, view_source& source, dist::communicator& comm,
                  const std::filesystem::path& run_dir) {
  return training_loop(state, source, comm, run_dir).run();
}

}  // namespace skyssl::train
