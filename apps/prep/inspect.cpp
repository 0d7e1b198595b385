#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::prep {
command add_inspect(CLI::App& app) {
  return [] { throw error("skyssl-prep inspect: not built yet"); };
}
}  // namespace skyssl::prep
