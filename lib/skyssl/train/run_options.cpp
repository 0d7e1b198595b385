#include "skyssl/train/run_options.hpp"

namespace skyssl::train {

run_options run_options_from(const skyssl::config& cfg, const dist::communicator& comm) {
  run_options o;
  o.cfg = cfg;
  o.train = train_options_from(cfg, "train");
  o.train_eval = training_eval_options_from(cfg, "train_eval");
  o.model = model::resnet_options_from(cfg, "model", 0);
  o.moco = moco::moco_options_from(cfg, "moco", o.train.seed);
  o.model.head_dim = static_cast<int>(o.moco.dim);
  o.dist = dist::dist_options_from(cfg);
  o.checkpoint = checkpoint_options_from(cfg, "checkpoint");
  o.plan = plan_device(o.train, comm);
  return o;
}

}  // namespace skyssl::train
