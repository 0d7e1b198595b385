#pragma once
#include "skyssl/dist/communicator.hpp"

namespace skyssl::dist {

std::unique_ptr<communicator> make_mpi_communicator();

}  // namespace skyssl::dist
