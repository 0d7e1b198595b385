#pragma once
// Writes checkpoints on a background thread from a host snapshot, so training continues while
// the files go to disk (rank 0 only). At most one write is in flight: submitting the next one
// first waits for the previous one. A failed write is reported by failed()/wait(), never lost.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "skyssl/train/checkpoint.hpp"

namespace skyssl::train {

class checkpoint_writer {
 public:
  checkpoint_writer(std::filesystem::path root, std::int64_t keep);
  ~checkpoint_writer();  // waits for a write in flight (its error is logged, not thrown)
  checkpoint_writer(const checkpoint_writer&) = delete;
  checkpoint_writer& operator=(const checkpoint_writer&) = delete;

  // Waits for the previous write (throwing its error), then starts writing `c`.
  void submit(checkpoint_data c);
  // Waits for the write in flight; throws checkpoint_error if it failed.
  void wait();
  // Non-blocking: whether the last finished write failed.
  bool failed();

 private:
  void join();
  std::filesystem::path root_;
  std::int64_t keep_;
  std::thread thread_;
  std::mutex mu_;
  std::string error_;
};

}  // namespace skyssl::train
