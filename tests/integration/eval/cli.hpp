#pragma once
// Shared by the eval CLI tests: run a command, and a tiny survey with runs trained on it
// (a few steps: these tests check plumbing and invariants, not learning).
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace skyssl::test {

using result = command_result;
inline result run(const std::string& cmd) { return run_command(cmd); }

// survey.h5 (384 galaxies, 32x32) in `dir`, written once.
inline std::filesystem::path tiny_survey(const std::filesystem::path& dir) {
  const auto survey = dir / "survey.h5";
  if (!std::filesystem::exists(survey)) {
    const auto s = run(skyssl::test::program("skyssl-prep") + " synth --out " + survey.string() +
                       " --count 384 --size 32 --seed 5");
    if (s.status != 0) throw std::runtime_error(s.output);
  }
  return survey;
}

// A run of `steps` steps of a width-`width` ResNet-18 on the tiny survey.
inline std::filesystem::path tiny_run(const std::filesystem::path& dir, const std::string& name,
                                      int width, int steps = 4) {
  const auto run_dir = dir / name;
  if (!std::filesystem::exists(run_dir / "weights.safetensors")) {
    const auto t = run(skyssl::test::program("skyssl-train") + " --preset example --run-dir " +
                       run_dir.string() + " --set data.path=" + tiny_survey(dir).string() +
                       " --set augment.input_size=32 --set augment.crop=24 --set "
                       "augment.jitter_max=2 --set model.width=" +
                       std::to_string(width) +
                       " --set moco.K=128 --set moco.bn_group=32 --set train.global_batch=32"
                       " --set train.max_steps=" +
                       std::to_string(steps) + " --set train_eval.enabled=false");
    if (t.status != 0) throw std::runtime_error(t.output);
  }
  return run_dir;
}

}  // namespace skyssl::test
