#pragma once
// Reads this rank's slice of every global batch of an epoch_plan, on a prefetch thread that
// runs `prefetch` batches ahead; memory is bounded by that depth, never by the archive size.
// Each file is opened once (by the archive); all HDF5 calls hold lib/data's HDF5 lock, so the
// caller may still use other lib/data objects while the reader runs.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "skyssl/data/archive.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/sample_batch.hpp"

namespace skyssl::data {

class shard_reader {
 public:
  // Opens the archive. Throws data_error when global_batch % world != 0 or the archive holds
  // fewer samples than one global batch.
  shard_reader(const archive_options& archive, const reader_options& reader, std::uint64_t seed,
               std::int64_t global_batch, int rank, int world);
  ~shard_reader();  // stops and joins the prefetch thread
  shard_reader(const shard_reader&) = delete;
  shard_reader& operator=(const shard_reader&) = delete;

  // (Re)starts reading at (epoch, step); drops anything prefetched. Epochs roll over.
  void start(std::int64_t epoch, std::int64_t step);
  // The next batch in order (start(0, 0) implied on first use). Rethrows, here, any error the
  // prefetch thread met (archive_error, data_error naming file, dataset and sample).
  sample_batch next();

  std::int64_t steps_per_epoch() const { return steps_; }
  std::int64_t local_batch() const { return global_batch_ / world_; }
  const archive& source() const { return *archive_; }

 private:
  struct item {
    sample_batch batch;
    std::exception_ptr error;
  };
  std::unique_ptr<archive> archive_;
  reader_options opts_;
  std::uint64_t seed_;
  std::int64_t global_batch_;
  int rank_, world_;
  std::int64_t steps_ = 0;
  std::string ebv_name_;
  std::vector<std::string> psf_names_;  // per band; "" when unknown

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<item> queue_;
  bool stop_ = false;
  bool started_ = false;

  // Reused between batches by the prefetch thread only: fresh multi-MB buffers cost a page
  // fault per 4 KiB, which dominated the read time. Pool tensors are reused once the caller
  // has dropped every reference (storage use count 1); at most prefetch + 3 are kept.
  mutable std::vector<float> staging_;
  mutable std::vector<torch::Tensor> pool_;
  torch::Tensor image_buffer(std::int64_t b) const;

  void stop();
  void run(std::int64_t epoch, std::int64_t step);
  sample_batch read_batch(std::int64_t epoch, std::int64_t step) const;
};

}  // namespace skyssl::data
