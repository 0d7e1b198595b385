#pragma once
// Training records: one JSON object per line in <run-dir>/metrics.jsonl (rank 0 only), and a
// human-readable progress line on the console. See docs/training.md for the fields.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "skyssl/train/phase_timer.hpp"

namespace skyssl::train {

struct step_record {
  std::int64_t step = 0;  // global step count after this record (1-based)
  std::int64_t epoch = 0;
  std::int64_t epoch_step = 0;  // step within the epoch (0-based) of the last step recorded
  std::int64_t steps_total = 0;
  double loss = 0;  // mean over the interval and over all ranks
  double acc1 = 0;  // fraction of queries whose positive key has the top logit
  double lr = 0;
  double images_per_s = 0;            // global images per second over the interval
  double step_s = 0;                  // mean wall time per step over the interval
  double data_wait_s = 0;             // mean time per step the trainer waited for the pipeline
  std::int64_t nonfinite_pixels = 0;  // NaN/Inf input pixels set to 0 over the interval, all ranks
  double elapsed_s = 0;
  double eta_s = 0;
  phase_times phases;  // seconds per step, mean over the interval and over ranks
};

class metrics_writer {
 public:
  // Opens <run_dir>/metrics.jsonl for appending when `enabled` (rank 0); else does nothing.
  metrics_writer(const std::filesystem::path& run_dir, bool enabled);
  void write(const step_record& r);
  // A free-form record ("event": name, plus a JSON object given as text).
  void write_event(const std::string& name, const std::string& json_object);
  // The end-of-run summary: {"event": "summary", "steps", "seconds", "step_s", "phases": {...
  // seconds per step}} (rank 0's).
  void write_summary(std::int64_t steps, double seconds, const phase_times& per_step);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  bool enabled_;
};

// "step 120/2000 epoch 3 loss 7.812 acc1 0.031 lr 0.0300 img/s 412.3 data 2% ETA 4m12s".
std::string progress_line(const step_record& r);

}  // namespace skyssl::train
