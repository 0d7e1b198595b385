#pragma once
// The [dist] section of the config.
#include <cstdint>
#include <string>

namespace skyssl {
class config;
}

namespace skyssl::dist {

// The [dist] section of the config, as a plain struct.
struct options {
  std::string backend = "auto";  // dist.backend: mpi | nccl | auto | local
  double bucket_mb = 25.0;       // dist.bucket_mb: gradient bucket size
  // dist.grad_sync: "bucketed" (all-reduces started from autograd hooks during backward,
  // lib/dist's gradient_bucketer) or "flat" (one all-reduce of all gradients after backward).
  // The default is the one measured faster in a real 2-rank step (docs/performance.md).
  std::string grad_sync = "flat";
  std::int64_t check_every = 0;  // dist.check_every: steps between consistency checks (0: off)
  double timeout_s = 0.0;        // dist.timeout_s: collective watchdog (0: off, block forever)
};

// [dist] of `cfg` validated (config_error naming the key).
options dist_options_from(const config& cfg);

}  // namespace skyssl::dist
