#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::prep {
command add_from_fits(CLI::App& app) {
  return [] { throw error("skyssl-prep from_fits: not built yet"); };
}
}  // namespace skyssl::prep
