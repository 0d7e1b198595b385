#include "skyssl/dist/local_communicator.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::dist {

void local_communicator::all_reduce_sum(torch::Tensor& t) {
  // Same preconditions as the real backends, so code tested here does not break under MPI.
  if (!t.defined() || !t.is_contiguous())
    throw dist_error("all_reduce (local): tensor must be defined and contiguous");
}

torch::Tensor local_communicator::all_gather(const torch::Tensor& t) {
  if (!t.defined()) throw dist_error("all_gather (local): undefined tensor");
  // A copy, like the real backends: the caller owns the result independently of `t`.
  torch::Tensor out = t.contiguous().clone();
  return t.dim() == 0 ? out.reshape({1}) : out;
}

void local_communicator::broadcast(torch::Tensor& t, int root) {
  if (root != 0)
    throw dist_error(fmt::format("broadcast (local): root {} outside world of 1", root));
  if (!t.defined() || !t.is_contiguous())
    throw dist_error("broadcast (local): tensor must be defined and contiguous");
}

torch::Tensor local_communicator::all_to_all(const torch::Tensor& send,
                                             const std::vector<std::int64_t>& send_rows,
                                             const std::vector<std::int64_t>& recv_rows) {
  if (send_rows.size() != 1 || recv_rows.size() != 1 || send_rows[0] != recv_rows[0] ||
      send_rows[0] != send.size(0))
    throw dist_error(fmt::format(
        "all_to_all (local): a world of one sends its {} rows to itself (got send {} recv {})",
        send.size(0), send_rows.empty() ? -1 : send_rows[0],
        recv_rows.empty() ? -1 : recv_rows[0]));
  return send.contiguous().clone();
}

void local_communicator::abort(const std::string& message, int exit_code) {
  log::write_error(message);
  std::fflush(stderr);
  std::_Exit(exit_code);
}

}  // namespace skyssl::dist
