// Mixed precision of the encoders on the CPU (LibTorch's CPU autocast does bf16): outputs
// stay fp32 and close to the fp32 model, gradients reach the fp32 parameters, and the autocast
// state of the thread is restored after every call.
#include <torch/types.h>
#include <doctest/doctest.h>

#include "skyssl/core/error.hpp"
#include "skyssl/model/autocast.hpp"
#include "skyssl/model/resnet.hpp"

using namespace skyssl;

TEST_CASE("precision names map to autocast dtypes; others are refused") {
  CHECK_FALSE(model::autocast_dtype("fp32").has_value());
  CHECK((model::autocast_dtype("bf16") == c10::ScalarType::BFloat16));
  CHECK((model::autocast_dtype("fp16") == c10::ScalarType::Half));
  CHECK_THROWS_WITH_AS(model::autocast_dtype("fp8"), doctest::Contains("'fp8'"), config_error);
}

TEST_CASE("a bf16 encoder on the CPU: fp32 out, close to fp32, gradients in fp32") {
  torch::manual_seed(3);
  model::resnet_options o;
  o.width = 8;
  o.head_dim = 16;
  model::resnet net(o);
  // Inference-mode BN: batch statistics over 4 samples at 1x1 would magnify any rounding.
  net->eval();
  const auto x = torch::randn({4, 3, 32, 32});
  const auto ref = net->forward(x).detach();
  net->set_autocast(c10::ScalarType::BFloat16);
  const auto y = net->forward(x);
  CHECK((y.scalar_type() == torch::kFloat32));
  CHECK((net->features(x).scalar_type() == torch::kFloat32));
  // bf16 keeps 8 bits of mantissa: agreement to a few percent, and the outputs must differ
  // somewhere (or autocast did not run at all).
  const double rel = ((y.detach() - ref).norm() / ref.norm()).item<double>();
  MESSAGE("bf16 vs fp32 relative difference " << rel);
  CHECK(rel < 0.05);
  CHECK(rel > 0.0);
  CHECK_FALSE(model::autocast_active(torch::kCPU));  // restored after the call
  net->train();
  y.pow(2).sum().backward();
  for (const auto& p : net->parameters()) {
    CHECK((p.scalar_type() == torch::kFloat32));
    REQUIRE(p.grad().defined());
    CHECK((p.grad().scalar_type() == torch::kFloat32));
    CHECK(torch::isfinite(p.grad()).all().item<bool>());
  }
}

TEST_CASE("nested scopes restore the enclosing state") {
  const torch::Device cpu(torch::kCPU);
  {
    const model::autocast_scope outer(cpu, c10::ScalarType::BFloat16);
    CHECK(model::autocast_active(cpu));
    {
      const model::autocast_scope none(cpu, std::nullopt);
      CHECK(model::autocast_active(cpu));  // an empty scope changes nothing
    }
    CHECK(model::autocast_active(cpu));
  }
  CHECK_FALSE(model::autocast_active(cpu));
}
