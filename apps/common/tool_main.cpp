#include "apps/common/tool_main.hpp"

#include <fmt/format.h>

#include <exception>

#include "skyssl/core/log.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::apps {

int guarded_main(const std::string& tool, std::unique_ptr<dist::communicator>& comm,
                 const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    const std::string msg = fmt::format("{}: {}", tool, e.what());
    if (!comm && log::world() > 1) {
      try {
        comm = dist::make_communicator("mpi");
      } catch (const std::exception&) {
        // No MPI to abort through: this rank exits 1 and the launcher ends the others.
      }
    }
    if (comm && comm->world() > 1) comm->abort(msg, 1);
    log::error("{}", msg);
    return 1;
  }
}

}  // namespace skyssl::apps
