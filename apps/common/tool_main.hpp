#pragma once
// What every tool's main() does around its work: one clear line for any error, exit 1, and no
// rank left behind in a collective. A body that made a communicator passes it back through
// `comm`, so that an error on one rank aborts the job through it; without one, a job of several
// ranks is aborted through MPI directly.
#include <functional>
#include <memory>
#include <string>

#include "skyssl/dist/communicator.hpp"

namespace skyssl::apps {

// Runs body() and returns its exit code; on an exception prints "<tool>: <what>" and returns 1
// (after taking every rank of a multi-rank job down with that message).
int guarded_main(const std::string& tool, std::unique_ptr<dist::communicator>& comm,
                 const std::function<int()>& body);

}  // namespace skyssl::apps
