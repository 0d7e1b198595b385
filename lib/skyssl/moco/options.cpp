#include "skyssl/moco/options.hpp"

#include <fmt/format.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::moco {

moco_options moco_options_from(const skyssl::config& cfg, const std::string& s,
                               std::uint64_t seed) {
  moco_options o;
  o.K = cfg.get_int(s + ".K", o.K);
  check_positive(s + ".K", static_cast<double>(o.K));
  o.m = cfg.get_double(s + ".m", o.m);
  check_range(s + ".m", o.m, 0.0, 1.0);
  o.T = cfg.get_double(s + ".T", o.T);
  check_positive(s + ".T", o.T);
  o.dim = cfg.get_int(s + ".dim", o.dim);
  check_positive(s + ".dim", static_cast<double>(o.dim));
  o.bn_group = cfg.get_int(s + ".bn_group", o.bn_group);
  if (o.bn_group < 0)
    throw config_error(
        fmt::format("{}.bn_group must be >= 0 (0 = per-rank batch), got {}", s, o.bn_group));
  if (cfg.has(s + ".shuffle_bn")) {
    std::string mode;
    try {
      mode = cfg.get_string(s + ".shuffle_bn", "gather");
    } catch (const config_error&) {  // a TOML boolean (configs written before the three modes)
      mode = cfg.get_bool(s + ".shuffle_bn", true) ? "gather" : "off";
    }
    o.shuffle_bn = parse_shuffle_mode(s + ".shuffle_bn", mode);
  } else {
    cfg.get_string(s + ".shuffle_bn", to_string(o.shuffle_bn));  // recorded in the resolved config
  }
  o.seed = seed;
  return o;
}

shuffle_mode parse_shuffle_mode(const std::string& key, const std::string& value) {
  if (value == "gather") return shuffle_mode::gather;
  if (value == "local") return shuffle_mode::local;
  if (value == "off") return shuffle_mode::off;
  throw config_error(
      fmt::format("{} must be \"gather\", \"local\" or \"off\", got \"{}\"", key, value));
}

const char* to_string(shuffle_mode m) {
  switch (m) {
    case shuffle_mode::gather:
      return "gather";
    case shuffle_mode::local:
      return "local";
    case shuffle_mode::off:
      return "off";
  }
  return "?";
}

void check_queue_fits(std::int64_t K, std::int64_t global_batch) {
  if (global_batch <= 0 || K % global_batch != 0)
    throw config_error(fmt::format(
        "moco.K = {} must be a multiple of the global batch (train.global_batch = {}): the queue "
        "is written one global batch at a time and must wrap exactly at K",
        K, global_batch));
}

std::int64_t resolve_bn_group(std::int64_t bn_group, std::int64_t local_batch) {
  if (bn_group == 0) return local_batch;
  if (local_batch % bn_group != 0)
    throw config_error(fmt::format(
        "moco.bn_group = {} must divide the per-rank batch ({} = train.global_batch / ranks)",
        bn_group, local_batch));
  return bn_group;
}

}  // namespace skyssl::moco
