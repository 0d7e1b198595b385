#pragma once
// Where a training step's time goes. The trainer adds every step's phases (the MoCo engine
// times its own, moco::step_times; the pipeline reports waiting, reading and augmenting) into
// an interval, averages the interval over ranks into each metrics record ("phases": seconds
// per step) and sums the run into the end-of-training summary. Costs a dozen clock reads per
// step (bench_train_step measures it).
#include <array>
#include <cstdint>
#include <string>

namespace skyssl::moco {
struct step_times;  // moco/engine.hpp
}

namespace skyssl::train {

enum class phase : int {
  // The training thread, in step order; with `other` they add up to the step time.
  read_wait,      // waiting for the input pipeline
  to_device,      // views to the encoders' device
  query_forward,  // encoder_q, head, normalise
  key_path,       // momentum update, shuffle BN, key forward, key all-gather
  loss,           // logits against the queue, cross-entropy
  backward,       // autograd (the bucketed all-reduce overlaps it)
  grad_sync,      // gradient all-reduce, or the wait for its buckets
  optimizer,      // SGD step
  enqueue,        // queue write; loss and accuracy read back
  checkpoint,     // snapshot and (at the end or on a stop) the wait for the write
  other,          // the rest: agreeing on stop signals, consistency checks, metrics
  // The input pipeline's thread (overlapped with the step when data_wait stays ~0).
  read,     // waiting for the shard reader's raw samples (and shuffle_bn = local's extra reads)
  augment,  // the augmentation kernels
  count
};
constexpr int phase_count = static_cast<int>(phase::count);
constexpr int main_thread_phases = static_cast<int>(phase::other) + 1;

// "read_wait", "to_device", ... (the keys of the metrics record's "phases" object).
const char* phase_name(phase p);
const char* phase_name(int p);

struct phase_times {
  std::array<double, phase_count> s{};  // seconds, summed
  double& operator[](phase p) { return s[static_cast<std::size_t>(p)]; }
  double operator[](phase p) const { return s[static_cast<std::size_t>(p)]; }
  void add(const moco::step_times& t);
  phase_times& operator+=(const phase_times& o);
  // Sum of the training thread's phases except `other`.
  double main_thread_sum() const;
};

// "fwd_q 41% key 30% bwd 20% ..." for the end-of-training summary: each main-thread phase's
// share of the total step time `seconds`, largest first, those under 1% left out.
std::string phase_breakdown(const phase_times& t, double seconds);

}  // namespace skyssl::train
