#pragma once
// Checkpoints: one directory per checkpoint, <run-dir>/checkpoints/ckpt-<global_step>/, holding
//   state.safetensors  encoders (parameters, BN buffers), SGD momentum, queue and pointer,
//                      per-rank BN statistics and metrics-interval sums (see docs/checkpoints.md)
//   state.json         format version, position (epoch, step, global step), world size, seed,
//                      BN group, learning-rate schedule inputs
//   config.toml        the resolved config of the run
//   MANIFEST.json      size and CRC-32 of each file above, written last
// A checkpoint is written into a hidden temporary directory, every file fsync'd, then renamed
// into place and the parent fsync'd: a crash leaves either the whole checkpoint or an orphan
// temporary that the next start removes. A directory without a verifying manifest is ignored.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "skyssl/model/safetensors.hpp"
#include "skyssl/train/options.hpp"

namespace skyssl {
class config;
}

namespace skyssl::train {

inline constexpr int checkpoint_format_version = 1;

// The [checkpoint] section.
struct checkpoint_options {
  std::int64_t every_steps = 0;  // 0: off
  double every_minutes = 30;     // wall-clock cadence (rank 0's clock, agreed by all); 0: off
  std::int64_t keep = 3;         // newest checkpoints kept (>= 1)
};
checkpoint_options checkpoint_options_from(const skyssl::config& cfg, const std::string& section);

// Everything a checkpoint holds, in host memory.
struct checkpoint_data {
  int format = checkpoint_format_version;
  std::int64_t global_step = 0;  // steps done
  std::int64_t epoch = 0;        // position of the next step
  std::int64_t step = 0;         // within the epoch
  int world = 1;                 // ranks it was written with
  std::uint64_t seed = 0;
  std::int64_t bn_group = 0;  // images per BatchNorm group (resolved)
  lr_schedule schedule;
  std::string config_toml;
  model::tensor_map tensors;
};

// <run_dir>/checkpoints
std::filesystem::path checkpoints_dir(const std::filesystem::path& run_dir);
// "ckpt-<global_step>"
std::string checkpoint_name(std::int64_t global_step);

// Atomically writes `c` as <root>/ckpt-<global_step>; returns that path. If it already exists
// and verifies (a resume that stops at once) nothing is written. Throws checkpoint_error
// naming the file (a full disk, a failing device) after removing its temporary directory.
std::filesystem::path write_checkpoint(const std::filesystem::path& root, const checkpoint_data& c);

// Empty when every file matches the manifest; else what is wrong, naming the file.
std::string verify_checkpoint(const std::filesystem::path& dir);

// Reads a checkpoint (checking the manifest's sizes and checksums first).
checkpoint_data read_checkpoint(const std::filesystem::path& dir);

// Checkpoint directories under root, newest (highest step) first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& root);

struct checkpoint_choice {
  std::optional<std::filesystem::path> chosen;  // newest that verifies
  std::int64_t step = -1;                       // its global step
  std::vector<std::string> rejected;            // "ckpt-40: state.safetensors: ..." (newer ones)
  bool any = false;                             // whether root held any checkpoint at all
};
checkpoint_choice choose_checkpoint(const std::filesystem::path& root);

// Removes all but the `keep` newest checkpoints, and temporaries left by killed writes (call at
// start, before anything is written). Returns the names removed.
std::vector<std::string> prune_checkpoints(const std::filesystem::path& root, std::int64_t keep);
std::vector<std::string> remove_orphans(const std::filesystem::path& root);

}  // namespace skyssl::train
