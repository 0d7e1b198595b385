#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::prep {
command add_synth(CLI::App& app) {
  return [] { throw error("skyssl-prep synth: not built yet"); };
}
}  // namespace skyssl::prep
