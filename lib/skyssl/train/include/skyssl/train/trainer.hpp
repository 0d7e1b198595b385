#pragma once
// The single-rank-or-many trainer. All mutable training state lives in `train_state`, the unit
// a checkpoint will save and restore (model, key encoder and queue inside the MoCo engine,
// optimiser, position, config): nothing that matters lives in locals of the loop.
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "skyssl/core/config.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/moco/engine.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/options.hpp"
#include "skyssl/train/phase_timer.hpp"
#include "skyssl/train/pipeline.hpp"
#include "skyssl/train/run_options.hpp"

namespace torch::optim {
class SGD;
}
namespace skyssl::dist {
class gradient_bucketer;
}

namespace skyssl::train {

// Sums of the metrics interval in progress (since the last record), this rank's.
struct interval_sums {
  double loss = 0, acc1 = 0;
  std::int64_t steps = 0;
};

struct train_state {
  skyssl::config cfg;  // the resolved config the run was started with
  train_options opts;
  moco::moco_options moco_opts;
  model::resnet_options model_opts;
  std::unique_ptr<moco::engine> moco;  // encoder_q (+head), encoder_k, queue and its ptr
  std::unique_ptr<torch::optim::SGD> optimizer;
  // Averages gradients over ranks during backward (world > 1). Declared after `moco` so it is
  // destroyed first: it holds hooks on the query encoder's parameters.
  std::unique_ptr<dist::gradient_bucketer> grad_sync;
  std::int64_t epoch = 0;        // position of the NEXT step to run
  std::int64_t step = 0;         // within the epoch
  std::int64_t global_step = 0;  // steps done since the start of training
  std::int64_t steps_per_epoch = 0;
  std::int64_t check_every = 0;  // dist.check_every: steps between cross-rank checksums
  lr_schedule schedule;
  checkpoint_options checkpointing;
  interval_sums interval;

  train_state();
  ~train_state();
  train_state(train_state&&);
  train_state& operator=(train_state&&);
};

// Builds the state: seeds torch's global generator with train.seed on every rank, builds the
// encoders, then broadcasts every parameter/buffer from rank 0. Reads [train], [model], [moco],
// [checkpoint] and dist.bucket_mb; with more than one rank, gradients are averaged by
// lib/dist's bucketer.
// A new run's state on this rank: encoders (initial weights broadcast from rank 0), optimiser,
// gradient sync and LR schedule, from the run's options (run_options_from) and the archive's band
// count and steps per epoch.
train_state make_state(const run_options& options, dist::communicator& comm, int in_channels,
                       std::int64_t steps_per_epoch);

struct run_summary {
  std::int64_t steps = 0;
  // The loss starts low while the queue holds random keys and jumps when real keys fill it:
  // first_loss is the first step's with a full queue (first_loss_step; 0 if never full).
  double first_loss = 0, last_loss = 0;
  std::int64_t first_loss_step = 0;
  double seconds = 0, wait_seconds = 0;
  int stop_signal = 0;  // the signal that stopped the run early (0: ran to the end)
  std::int64_t checkpoints = 0;
  double checkpoint_seconds = 0;  // training-thread time spent on snapshots and waiting for writes
  phase_times phases;             // this rank's, summed over the run's steps
};

// Trains from state.epoch/state.step to the end (train.epochs, or train.max_steps in total),
// reading from `source` through a pipeline thread. Writes metrics.jsonl in run_dir on rank 0.
// Checkpoints into run_dir/checkpoints at the [checkpoint] cadence and after the last step;
// after each step the ranks agree whether any of them received a stop signal
// (stop_signals.hpp), and if so all checkpoint after that step and return with stop_signal set.
run_summary train(train_state& state, view_source& source, dist::communicator& comm,
                  const std::filesystem::path& run_dir);

// Writes weights.safetensors (query encoder + head, torchvision key names: what skyssl's tools
// read) and, for PyTorch users, weights.pt and queue.pt (keys, ptr; LibTorch archives that no
// skyssl tool reads back) in run_dir (rank 0). BN running statistics are averaged over ranks in
// what is written only: the training state is left as it was.
void save_weights(train_state& state, dist::communicator& comm,
                  const std::filesystem::path& run_dir);

// Runs `f` with the query and key encoders' BN running statistics averaged over ranks (what
// the exported weights and evaluation use), then puts every rank's own statistics back.
void with_averaged_bn(train_state& state, const std::function<void()>& f);

}  // namespace skyssl::train
