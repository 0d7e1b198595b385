#include "skyssl/train/options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::train {

train_options train_options_from(const skyssl::config& cfg, const std::string& s) {
  train_options o;
  o.epochs = cfg.get_int(s + ".epochs", o.epochs);
  check_positive(s + ".epochs", static_cast<double>(o.epochs));
  o.global_batch = cfg.get_int(s + ".global_batch", o.global_batch);
  check_positive(s + ".global_batch", static_cast<double>(o.global_batch));
  o.base_lr = cfg.get_double(s + ".base_lr", o.base_lr);
  check_positive(s + ".base_lr", o.base_lr);
  o.lr_reference_batch = cfg.get_int(s + ".lr_reference_batch", o.lr_reference_batch);
  check_positive(s + ".lr_reference_batch", static_cast<double>(o.lr_reference_batch));
  o.momentum = cfg.get_double(s + ".momentum", o.momentum);
  check_range(s + ".momentum", o.momentum, 0.0, 1.0);
  o.weight_decay = cfg.get_double(s + ".weight_decay", o.weight_decay);
  check_range(s + ".weight_decay", o.weight_decay, 0.0, 1.0);
  o.warmup_epochs = cfg.get_double(s + ".warmup_epochs", o.warmup_epochs);
  check_range(s + ".warmup_epochs", o.warmup_epochs, 0.0, 1e9);
  const std::int64_t seed = cfg.get_int(s + ".seed", 0);
  check_range(s + ".seed", static_cast<double>(seed), 0.0, 9.2e18);
  o.seed = static_cast<std::uint64_t>(seed);
  o.max_steps = cfg.get_int(s + ".max_steps", o.max_steps);
  check_range(s + ".max_steps", static_cast<double>(o.max_steps), 0.0, 9.2e18);
  o.log_every = cfg.get_int(s + ".log_every", o.log_every);
  check_positive(s + ".log_every", static_cast<double>(o.log_every));
  o.threads = cfg.get_int(s + ".threads", o.threads);
  check_range(s + ".threads", static_cast<double>(o.threads), 0.0, 4096.0);
  o.prefetch = cfg.get_int(s + ".prefetch", o.prefetch);
  check_range(s + ".prefetch", static_cast<double>(o.prefetch), 1.0, 8.0);
  o.device = cfg.get_string(s + ".device", o.device);
  if (o.device != "cpu" && o.device != "cuda")
    throw config_error(fmt::format("{}.device must be 'cpu' or 'cuda', got '{}'", s, o.device));
  o.init_weights = cfg.get_string(s + ".init_weights", o.init_weights);
  o.precision = cfg.get_string(s + ".precision", o.precision);
  if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16")
    throw config_error(
        fmt::format("{}.precision must be 'fp32', 'bf16' or 'fp16', got '{}'", s, o.precision));
  o.loss_scale = cfg.get_double(s + ".loss_scale", o.loss_scale);
  {
    int e = 0;
    if (!(o.loss_scale > 0) || !std::isfinite(o.loss_scale) || std::frexp(o.loss_scale, &e) != 0.5)
      throw config_error(fmt::format(
          "{}.loss_scale must be a positive power of two (unscaling is then exact), got {}", s,
          o.loss_scale));
  }
  o.loss_scale_growth_interval =
      cfg.get_int(s + ".loss_scale_growth_interval", o.loss_scale_growth_interval);
  check_range(s + ".loss_scale_growth_interval", static_cast<double>(o.loss_scale_growth_interval),
              1.0, 1e9);
  if (cfg.has(s + ".channels_last")) o.channels_last = cfg.get_bool(s + ".channels_last", false);
  o.cudnn_benchmark = cfg.get_bool(s + ".cudnn_benchmark", o.cudnn_benchmark);
  return o;
}

training_eval_options training_eval_options_from(const skyssl::config& cfg, const std::string& s) {
  for (const char* key : {"enabled", "count"})
    if (cfg.has(fmt::format("eval.{}", key)))
      throw config_error(fmt::format(
          "eval.{0} is now {1}.{0}: the end-of-training check of skyssl-train has its own "
          "section [{1}] ([eval] holds skyssl-eval's keys)",
          key, s));
  training_eval_options o;
  o.enabled = cfg.get_bool(s + ".enabled", o.enabled);
  o.count = cfg.get_int(s + ".count", o.count);
  check_positive(s + ".count", static_cast<double>(o.count));
  return o;
}

lr_schedule make_lr_schedule(const train_options& o, std::int64_t steps_per_epoch) {
  lr_schedule s;
  s.peak = o.peak_lr();
  const std::int64_t full = o.epochs * steps_per_epoch;
  s.total_steps = o.max_steps > 0 ? std::min(full, o.max_steps) : full;
  const double warmup_full = o.warmup_epochs * static_cast<double>(steps_per_epoch);
  const double scale =
      full > 0 ? static_cast<double>(s.total_steps) / static_cast<double>(full) : 1.0;
  s.warmup_steps = std::min<std::int64_t>(
      static_cast<std::int64_t>(std::llround(warmup_full * scale)), s.total_steps);
  return s;
}

double lr_schedule::at(std::int64_t step) const {
  return learning_rate(peak, step, warmup_steps, total_steps);
}

double learning_rate(double peak, std::int64_t step, std::int64_t warmup_steps,
                     std::int64_t total_steps) {
  if (step < warmup_steps)
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return 0.5 * peak * (1.0 + std::cos(3.14159265358979323846 * t));
}

std::int64_t local_batch_size(std::int64_t global_batch, int world) {
  if (global_batch % world != 0)
    throw config_error(
        fmt::format("train.global_batch = {} must be divisible by the number of ranks ({})",
                    global_batch, world));
  return global_batch / world;
}

}  // namespace skyssl::train
