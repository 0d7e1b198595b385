#pragma once
// Choosing and starting a communicator backend.
#include <memory>
#include <string>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/options.hpp"

namespace skyssl::dist {

// backend: "mpi", "nccl", "auto" (NCCL when built with it, a CUDA device is visible and
// LibTorch can hold CUDA tensors, else MPI) or "local" (world of one, no MPI needed).
// "mpi", "nccl" and "auto" need a live dist::runtime.
std::unique_ptr<communicator> make_communicator(const std::string& backend);
// The same, also applying options.timeout_s.
std::unique_ptr<communicator> make_communicator(const options& opts);

// What "auto" resolves to in this process ("mpi" or "nccl").
std::string resolve_backend(const std::string& backend);

// True when the NCCL backend was compiled in.
bool nccl_available();

}  // namespace skyssl::dist
