// lib/skyssl/train/options: the learning-rate schedule at its key points, peak_lr scaling, and
// option validation that names the key.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/train/options.hpp"

using namespace skyssl;
using namespace skyssl::train;

namespace {

train_options from(const std::string& toml) {
  return train_options_from(config::from_string(toml, "test"), "train");
}

std::string error_of(const std::string& toml) {
  try {
    from(toml);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("warm-up then cosine: start, end of warm-up, middle, last step") {
  const double peak = 0.8;
  // 10 warm-up steps of 110.
  CHECK(learning_rate(peak, 0, 10, 110) == doctest::Approx(0.08));
  CHECK(learning_rate(peak, 4, 10, 110) == doctest::Approx(0.4));
  CHECK(learning_rate(peak, 9, 10, 110) == doctest::Approx(peak));
  CHECK(learning_rate(peak, 10, 10, 110) == doctest::Approx(peak));  // cosine starts at the peak
  CHECK(learning_rate(peak, 60, 10, 110) == doctest::Approx(0.4));   // half-way down
  CHECK(learning_rate(peak, 35, 10, 110) ==
        doctest::Approx(0.5 * peak * (1 + std::cos(M_PI * 0.25))));
  CHECK(learning_rate(peak, 109, 10, 110) ==
        doctest::Approx(0.5 * peak * (1 + std::cos(M_PI * 0.99))));
  CHECK(learning_rate(peak, 110, 10, 110) == doctest::Approx(0.0));
  // Without warm-up the first step is the peak.
  CHECK(learning_rate(peak, 0, 0, 100) == doctest::Approx(peak));
}

TEST_CASE("the schedule from options, with and without max_steps") {
  auto o = from("[train]\nepochs = 10\nglobal_batch = 64\nbase_lr = 0.1\nwarmup_epochs = 2\n");
  auto s = make_lr_schedule(o, 100);
  CHECK(s.total_steps == 1000);
  CHECK(s.warmup_steps == 200);
  CHECK(s.peak == doctest::Approx(0.1 * 64 / 256));
  CHECK(s.at(199) == doctest::Approx(s.peak));
  CHECK(s.at(600) == doctest::Approx(s.peak / 2));
  // max_steps compresses warm-up and cosine alike: 1/10 of the run, 1/10 of the warm-up.
  o.max_steps = 100;
  s = make_lr_schedule(o, 100);
  CHECK(s.total_steps == 100);
  CHECK(s.warmup_steps == 20);
  CHECK(s.at(19) == doctest::Approx(s.peak));
  CHECK(s.at(60) == doctest::Approx(s.peak / 2));
  // A max_steps beyond the epochs changes nothing.
  o.max_steps = 5000;
  CHECK(make_lr_schedule(o, 100).total_steps == 1000);
  CHECK(make_lr_schedule(o, 100).warmup_steps == 200);
  // A warm-up longer than the run is clipped to it.
  o.max_steps = 0;
  o.warmup_epochs = 50;
  CHECK(make_lr_schedule(o, 100).warmup_steps == 1000);
}

TEST_CASE("peak lr: linear in the global batch, relative to lr_reference_batch") {
  auto o = from("[train]\nglobal_batch = 1024\nbase_lr = 0.24\n");
  CHECK(o.peak_lr() == doctest::Approx(0.96));  // 0.24 per 256 images
  o = from("[train]\nglobal_batch = 32768\nbase_lr = 0.24\nlr_reference_batch = 32768\n");
  CHECK(o.peak_lr() == doctest::Approx(0.24));  // the DECaLS study's rate, as published
  o.global_batch = 1024;
  CHECK(o.peak_lr() == doctest::Approx(0.0075));
}

TEST_CASE("bad [train] values are refused, naming the key") {
  CHECK(error_of("[train]\nepochs = 0\n").find("train.epochs") != std::string::npos);
  CHECK(error_of("[train]\nglobal_batch = -4\n").find("train.global_batch") != std::string::npos);
  CHECK(error_of("[train]\nbase_lr = 0\n").find("train.base_lr") != std::string::npos);
  CHECK(error_of("[train]\nlr_reference_batch = 0\n").find("train.lr_reference_batch") !=
        std::string::npos);
  CHECK(error_of("[train]\nmomentum = 1.5\n").find("train.momentum") != std::string::npos);
  CHECK(error_of("[train]\nprefetch = 0\n").find("train.prefetch") != std::string::npos);
  CHECK(error_of("[train]\nlog_every = 0\n").find("train.log_every") != std::string::npos);
  CHECK(error_of("[train]\ndevice = \"tpu\"\n").find("train.device") != std::string::npos);
  CHECK(error_of("[train]\nepochs = \"ten\"\n").find("train.epochs") != std::string::npos);
  CHECK(error_of("[train]\nepochs = 3\n").empty());
}

TEST_CASE("local batch: global / ranks, or an error naming train.global_batch") {
  CHECK(local_batch_size(64, 4) == 16);
  CHECK_THROWS_WITH_AS(local_batch_size(64, 3), doctest::Contains("train.global_batch"),
                       config_error);
}

TEST_CASE("throughput keys: channels_last follows the device unless set; loss scale checks") {
  CHECK_FALSE(from("[train]\ndevice = \"cpu\"\n").channels_last_on());
  CHECK(from("[train]\ndevice = \"cuda\"\n").channels_last_on());
  CHECK(from("[train]\nchannels_last = true\n").channels_last_on());
  CHECK_FALSE(from("[train]\ndevice = \"cuda\"\nchannels_last = false\n").channels_last_on());
  CHECK(from("").cudnn_benchmark);
  CHECK_FALSE(from("[train]\ncudnn_benchmark = false\n").cudnn_benchmark);
  const auto o = from("[train]\nloss_scale = 1024\nloss_scale_growth_interval = 50\n");
  CHECK(o.loss_scale == 1024);
  CHECK(o.loss_scale_growth_interval == 50);
  CHECK(error_of("[train]\nloss_scale = 1000\n")
            .find("train.loss_scale must be a positive power "
                  "of two") != std::string::npos);
  CHECK(error_of("[train]\nloss_scale = -2\n").find("train.loss_scale") != std::string::npos);
  CHECK(error_of("[train]\nloss_scale_growth_interval = 0\n")
            .find("train.loss_scale_growth_interval") != std::string::npos);
  CHECK(error_of("[train]\nchannels_last = 3\n").find("train.channels_last") != std::string::npos);
}
