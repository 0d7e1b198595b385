#include "skyssl/dist/gather_ids.hpp"

#include <algorithm>

namespace skyssl::dist {

std::vector<std::int64_t> all_gather_ids(communicator& comm,
                                         const std::vector<std::int64_t>& mine) {
  // all_gather needs equal shapes: gather the lengths, pad every list to the longest.
  const auto device =
      comm.backend() == "nccl" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  auto n = torch::tensor(static_cast<std::int64_t>(mine.size()), torch::kInt64).to(device);
  const auto lengths = comm.all_gather(n).cpu();
  const auto* len = lengths.data_ptr<std::int64_t>();
  const std::int64_t longest =
      std::max<std::int64_t>(1, *std::max_element(len, len + comm.world()));
  auto padded = torch::full({longest}, std::int64_t{-1}, torch::kInt64);
  std::copy(mine.begin(), mine.end(), padded.data_ptr<std::int64_t>());
  const auto all = comm.all_gather(padded.to(device)).cpu().contiguous();
  const auto* p = all.data_ptr<std::int64_t>();
  std::vector<std::int64_t> out;
  for (int r = 0; r < comm.world(); ++r)
    out.insert(out.end(), p + r * longest, p + r * longest + len[r]);
  return out;
}

}  // namespace skyssl::dist
