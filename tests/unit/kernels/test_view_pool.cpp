// view_pool hands a pair out again only once nothing else shares it, and stays bounded.
#include "tests/support/torch_doctest.hpp"

#include "kernels/view_pool.hpp"

using namespace skyssl::kernels;

TEST_CASE("a pair is reused only after every outside reference is gone") {
  view_pool pool(2);
  auto a = pool.acquire(2, 3, 4, 4, torch::TensorOptions());
  const void* a_ptr = a.view1.data_ptr();
  CHECK(a.view1.sizes() == torch::IntArrayRef{2, 3, 4, 4});
  CHECK(a.view1.data_ptr() != a.view2.data_ptr());

  auto b = pool.acquire(2, 3, 4, 4, torch::TensorOptions());  // a still held: a new pair
  CHECK(b.view1.data_ptr() != a_ptr);
  CHECK(pool.size() == 2);

  auto slice = a.view1[1];  // a view of a's storage keeps the pair busy
  a = two_views{};
  auto c = pool.acquire(2, 3, 4, 4, torch::TensorOptions());
  CHECK(c.view1.data_ptr() != a_ptr);
  CHECK(pool.size() == 2);  // bounded: c is untracked

  slice = torch::Tensor();
  c = two_views{};
  auto d = pool.acquire(2, 3, 4, 4, torch::TensorOptions());
  CHECK(d.view1.data_ptr() == a_ptr);  // a's storage, now free, comes back
}

TEST_CASE("a free pair of another shape is reallocated to the asked shape") {
  view_pool pool(1);
  { auto a = pool.acquire(4, 3, 8, 8, torch::TensorOptions()); }
  auto b = pool.acquire(3, 3, 8, 8, torch::TensorOptions());
  CHECK(b.view1.sizes() == torch::IntArrayRef{3, 3, 8, 8});
  CHECK(b.view2.sizes() == torch::IntArrayRef{3, 3, 8, 8});
  CHECK(pool.size() == 1);
}

TEST_CASE("a negative bound is refused") { CHECK_THROWS_AS(view_pool(-1), std::invalid_argument); }
