#pragma once
// The supervised baseline of the label-count curve: the run's ResNet (same arch, width, stem,
// bands) trained from random init with a linear classification head and cross-entropy on the
// labelled training rows only, for each label count of the morphology curve, then scored on
// the same test rows as the probes. Inputs are the centre crops (the probes' view) with random
// flips and quarter turns; batch order, flips and turns come from the counter-based generator
// (seed, epoch, row), the initial weights from LibTorch's generator seeded with the seed (as
// random_encoder does), so the same seed gives the same accuracy.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/augment_config.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/eval/splits.hpp"
#include "skyssl/eval/task_labels.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl {
class config;
}

namespace skyssl::eval {

struct supervised_options {
  int epochs = 10;              // passes over each point's labels; 0 = no supervised baseline
  std::int64_t min_steps = 64;  // ... but at least this many SGD steps (the small points)
  std::int64_t batch = 64;
  double lr = 0.05;  // SGD, momentum 0.9, cosine decay to 0 over the point's steps
  double weight_decay = 5e-4;
  bool augment = true;  // random flips and quarter turns of the centre crop
  bool enabled() const { return epochs > 0; }
};

// eval.supervised_epochs, eval.supervised_min_steps, eval.supervised_batch,
// eval.supervised_lr, eval.supervised_weight_decay, eval.supervised_augment (section = "eval");
// config_error naming the key for a value out of range.
supervised_options supervised_options_from(const config& cfg, const std::string& section);

// SGD steps of one curve point with n labels.
std::int64_t supervised_steps(const supervised_options& o, std::int64_t n);

// {"accuracy", "precision", "recall", "n_train", "n_test", "epochs", "min_steps", "batch",
//  "lr",
//  "curve": [{"labels", "accuracy", "steps"}, ...]} of the morphology task, on the class split
// of `labels` (the rows the probes use; a point whose labels hold one class only gets no
// accuracy, as the linear probe). `shape` is the run's encoder; its projection head is dropped.
nlohmann::json supervised_morphology(const data::archive& archive,
                                     const kernels::augment_config& augment,
                                     model::resnet_options shape, const task_labels& labels,
                                     const split& class_split,
                                     const std::vector<std::int64_t>& label_counts,
                                     const supervised_options& options, std::uint64_t seed,
                                     std::int64_t chunk = 256);

}  // namespace skyssl::eval
