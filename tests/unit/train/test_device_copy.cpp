// The copy stage on a CPU device: the identity (same storage back, no pinned memory, nothing
// to wait for), and a device without an index is refused. On a GPU build the same type moves
// batches on a side stream (docs/gpu.md).
#include <torch/types.h>
#include <doctest/doctest.h>

#include "skyssl/core/error.hpp"
#include "skyssl/train/device_copy.hpp"

using namespace skyssl;

TEST_CASE("on the CPU the copy stage hands back the very tensors it was given") {
  train::device_copy copy(torch::Device(torch::kCPU));
  CHECK_FALSE(copy.active());
  auto images = copy.host_buffer({2, 3, 8, 8}, torch::kFloat32);
  CHECK(images.device().is_cpu());
  CHECK_FALSE(images.is_pinned());
  CHECK(images.sizes() == torch::IntArrayRef({2, 3, 8, 8}));
  images.fill_(1.5f);
  const auto ids = torch::arange(2, torch::kInt64);
  auto batch = copy.upload({images, ids});
  REQUIRE(batch.tensors.size() == 2);
  CHECK(batch.tensors[0].data_ptr() == images.data_ptr());  // no copy
  CHECK(batch.tensors[1].data_ptr() == ids.data_ptr());
  CHECK_FALSE(batch.copied.has_value());
  copy.ready(batch);  // nothing to wait for
  CHECK(torch::equal(batch.tensors[0], torch::full({2, 3, 8, 8}, 1.5f)));
}

TEST_CASE("a CUDA copy stage needs an explicit device index") {
  CHECK_THROWS_WITH_AS(train::device_copy(torch::Device(torch::kCUDA)),
                       doctest::Contains("has no index"), config_error);
}
