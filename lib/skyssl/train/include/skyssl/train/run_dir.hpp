#pragma once
// The run directory's bookkeeping across jobs: does it already hold a run, and making
// metrics.jsonl continue cleanly when a run resumes from a checkpoint older than its last
// records (a job killed between checkpoints).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace skyssl::train {

// What in run_dir shows a run was started there (config.toml, metrics.jsonl, weights.pt,
// checkpoints/ckpt-N); empty for a new or empty directory.
std::vector<std::string> run_markers(const std::filesystem::path& run_dir);

// Keeps event records and the step records with "step" <= through_step in metrics.jsonl; the
// others (steps that will be trained again) move to metrics.superseded.jsonl. Atomic (a
// temporary file renamed over the old one). Returns how many records moved.
std::int64_t trim_metrics(const std::filesystem::path& run_dir, std::int64_t through_step);

}  // namespace skyssl::train
