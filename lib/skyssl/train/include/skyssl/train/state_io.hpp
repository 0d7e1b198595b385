#pragma once
// Between train_state and checkpoint_data: what a checkpoint holds and how a run is put back
// exactly as it was. Tensor names in state.safetensors:
//   encoder_q.<name>, encoder_k.<name>   parameters and buffers (rank 0's BN statistics)
//   momentum.<name>                      SGD momentum buffer of encoder_q's parameter <name>
//   queue.keys (K, dim), queue.ptr (1)   the negative queue and its write pointer
//   rank_bn.encoder_{q,k}.<name>         (world, ...) every rank's BN running statistics: with
//                                        more than one rank they differ (each rank sees its own
//                                        BN groups), and bit-exact resume needs each rank's own
//   interval.sums (world, 3)             per-rank loss and acc1 sums and step count of the
//                                        metrics interval in progress
//   scaler.state (3)                     fp16 only: loss scale, good steps in a row, steps
//                                        skipped (moco/loss_scaler.hpp)
#include <string>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/trainer.hpp"

namespace skyssl::train {

// Collective (every rank calls it, after the same step). Rank 0 gets the whole checkpoint in
// host memory (copies: training may continue while it is written); other ranks get only the
// position fields.
checkpoint_data snapshot_state(train_state& s, dist::communicator& comm);

// Every rank, from the same checkpoint: weights, BN statistics (this rank's own when the world
// size is the one it was written with, else the mean over the ranks that wrote it), momentum,
// queue, position and the metrics interval. `source` names the checkpoint in errors.
void restore_state(train_state& s, const checkpoint_data& c, dist::communicator& comm,
                   const std::string& source);

// Config keys that may differ between a checkpoint and the run that resumes it (prefixes end
// with '.'); every other key must match (docs/checkpoints.md).
const std::vector<std::string>& resumable_keys();
// "moco.K: checkpoint 1024, now 2048" for each key that differs and may not.
std::vector<std::string> incompatible_keys(const skyssl::config& now,
                                           const std::string& checkpoint_toml);

}  // namespace skyssl::train
