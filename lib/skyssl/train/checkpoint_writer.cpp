#include "skyssl/train/checkpoint_writer.hpp"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <chrono>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::train {
namespace fs = std::filesystem;

checkpoint_writer::checkpoint_writer(fs::path root, std::int64_t keep)
    : root_(std::move(root)), keep_(keep) {}

checkpoint_writer::~checkpoint_writer() {
  join();
  std::lock_guard<std::mutex> lk(mu_);
  if (!error_.empty()) log::error("{}", error_);
}

void checkpoint_writer::join() {
  if (thread_.joinable()) thread_.join();
}

void checkpoint_writer::submit(checkpoint_data c) {
  wait();
  thread_ = std::thread([this, c = std::move(c)] {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const auto dir = write_checkpoint(root_, c);
      std::uint64_t bytes = 0;
      for (const auto& e : fs::directory_iterator(dir)) bytes += e.file_size();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto pruned = prune_checkpoints(root_, keep_);
      log::info("checkpoint {} written ({:.1f} MB in {:.2f} s){}", dir.string(), bytes / 1e6, s,
                pruned.empty() ? "" : fmt::format(", removed {}", fmt::join(pruned, " ")));
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lk(mu_);
      error_ = e.what();
    }
  });
}

void checkpoint_writer::wait() {
  join();
  std::lock_guard<std::mutex> lk(mu_);
  if (!error_.empty()) {
    auto msg = std::move(error_);
    error_.clear();
    throw checkpoint_error(msg);
  }
}

bool checkpoint_writer::failed() {
  std::lock_guard<std::mutex> lk(mu_);
  return !error_.empty();
}

}  // namespace skyssl::train
