#pragma once
// Every rank's list of ids (lists of different lengths), in rank order: what a rank-shared scan
// needs to combine its parts (lib/data's data.nonfinite = "skip" scan). A collective.
#include <cstdint>
#include <vector>

#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

std::vector<std::int64_t> all_gather_ids(communicator& comm, const std::vector<std::int64_t>& mine);

}  // namespace skyssl::dist
