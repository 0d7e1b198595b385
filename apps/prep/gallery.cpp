#include "apps/prep/commands.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::prep {
command add_gallery(CLI::App& app) {
  return [] { throw error("skyssl-prep gallery: not built yet"); };
}
}  // namespace skyssl::prep
