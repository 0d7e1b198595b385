#include "skyssl/dist/communicator.hpp"

#include <fmt/format.h>

#include "skyssl/core/error.hpp"

namespace skyssl::dist {

void communicator::all_reduce_mean(torch::Tensor& t) {
  all_reduce_sum(t);
  if (world() > 1) t.div_(world());
}

namespace {
class completed_op final : public pending_op {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<pending_op> communicator::start_all_reduce_sum(torch::Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<completed_op>();
}

torch::Tensor communicator::all_to_all(const torch::Tensor&, const std::vector<std::int64_t>&,
                                       const std::vector<std::int64_t>&) {
  throw dist_error(fmt::format(
      "all_to_all is not implemented for the {} backend (data.cache = \"memory\" needs it): use "
      "dist.backend = \"mpi\" or data.cache = \"none\"",
      backend()));
}

}  // namespace skyssl::dist
