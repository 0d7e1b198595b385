#pragma once
// skyssl-train's config resolved once: every section the training run reads, as plain structs,
// plus the device plan they imply on this rank. The app builds it once (run_options_from) and
// hands it to make_state; nothing below re-reads the config. ([data] and [augment] are read by
// archive_source, which owns the input side.)
#include "skyssl/core/config.hpp"
#include "skyssl/dist/options.hpp"
#include "skyssl/model/resnet.hpp"
#include "skyssl/moco/options.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/train/device_plan.hpp"
#include "skyssl/train/options.hpp"

namespace skyssl::dist {
class communicator;
}

namespace skyssl::train {

struct run_options {
  skyssl::config cfg;  // the resolved document, written beside every checkpoint
  train_options train;
  training_eval_options train_eval;  // [train_eval]: the end-of-training check
  model::resnet_options model;       // in_channels is the archive's, set by make_state
  moco::moco_options moco;
  dist::options dist;
  checkpoint_options checkpoint;
  device_plan plan;  // this rank's device (train.device, train.precision, dist.backend checked)
};

// Reads and validates [train], [train_eval], [model], [moco], [dist] and [checkpoint] of `cfg`
// (config_error naming the key), and plans this rank's device against `comm`.
run_options run_options_from(const skyssl::config& cfg, const dist::communicator& comm);

}  // namespace skyssl::train
