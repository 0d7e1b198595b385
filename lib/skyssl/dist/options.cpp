#include "skyssl/dist/options.hpp"

#include <fmt/format.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::dist {

options dist_options_from(const config& cfg) {
  options o;
  o.backend = cfg.get_string("dist.backend", o.backend);
  if (o.backend != "mpi" && o.backend != "nccl" && o.backend != "auto" && o.backend != "local")
    throw config_error(
        fmt::format("dist.backend must be 'mpi', 'nccl', 'auto' or 'local', got '{}'", o.backend));
  o.bucket_mb = cfg.get_double("dist.bucket_mb", o.bucket_mb);
  check_positive("dist.bucket_mb", o.bucket_mb);
  o.grad_sync = cfg.get_string("dist.grad_sync", o.grad_sync);
  if (o.grad_sync != "bucketed" && o.grad_sync != "flat")
    throw config_error(
        fmt::format("dist.grad_sync must be 'bucketed' or 'flat', got '{}'", o.grad_sync));
  o.check_every = cfg.get_int("dist.check_every", o.check_every);
  if (o.check_every < 0)
    throw config_error(
        fmt::format("dist.check_every must be >= 0 (0 = off), got {}", o.check_every));
  o.timeout_s = cfg.get_double("dist.timeout_s", o.timeout_s);
  if (o.timeout_s < 0)
    throw config_error(fmt::format("dist.timeout_s must be >= 0 (0 = off), got {}", o.timeout_s));
  return o;
}

}  // namespace skyssl::dist
