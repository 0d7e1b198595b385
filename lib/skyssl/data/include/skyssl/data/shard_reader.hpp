#pragma once
// Reads this rank's slice of every global batch of an epoch_plan, on a prefetch thread that
// runs `prefetch` batches ahead; memory is bounded by that depth, never by the archive size.
// The rows of one batch are read by `read_threads` threads at once (direct preads where the
// layout allows, see archive), decoded to float32 with the non-finite check in the same pass,
// straight into the batch tensor. The read threads are started once, with the reader (a
// thread_pool), and the catalogue fields of a batch come from memory (a field_cache: each
// file's column read whole on first use). Each file is opened once (by the archive) and kept
// open.
#include <cstdint>
#include <memory>
#include <vector>

#include "skyssl/core/bounded_queue.hpp"
#include "skyssl/core/thread_pool.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/field_cache.hpp"
#include "skyssl/data/nonfinite_scan.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/sample_batch.hpp"

namespace skyssl::data {

class shard_reader {
 public:
  // Opens the archive. Throws data_error when global_batch % world != 0 or the archive holds
  // fewer samples than one global batch. With data.nonfinite = "skip" the archive is scanned
  // once here: rank r scans its share when `exchange` is given (it must be called on every
  // rank: a collective), else each rank scans all of it; either way every rank leaves out the
  // same samples.
  shard_reader(const archive_options& archive, const reader_options& reader, std::uint64_t seed,
               std::int64_t global_batch, int rank, int world, const row_exchange& exchange = {});
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
  // Samples the epoch plan draws from: the archive minus skipped().
  std::int64_t samples() const { return kept_.kept(); }
  // data.nonfinite = "skip": global ids left out of every epoch (sorted); else empty.
  const std::vector<std::int64_t>& skipped() const { return kept_.excluded(); }
  // The global ids of this rank's slice of (epoch, step), in batch order.
  std::vector<std::int64_t> rank_ids(std::int64_t epoch, std::int64_t step) const;
  // The global ids of the whole global batch (epoch, step), in batch order (rank r's slice is
  // [r B, (r+1) B)), skipped samples accounted for: what other ranks read, for shuffle BN
  // "local" and the memory cache.
  std::vector<std::int64_t> global_batch_ids(std::int64_t epoch, std::int64_t step) const;

 private:
  std::unique_ptr<archive> archive_;
  reader_options opts_;
  std::uint64_t seed_;
  std::int64_t global_batch_;
  int rank_, world_;
  std::int64_t steps_ = 0;
  kept_rows kept_;
  std::unique_ptr<field_cache> fields_;   // ebv, psfsize_<band> (batch_field_names)
  std::unique_ptr<thread_pool> threads_;  // the read threads (used by the prefetch thread only)

  // Reused between batches by the prefetch thread only: fresh multi-MB buffers cost a page
  // fault per 4 KiB, which dominated the read time. Pool tensors are reused once the caller
  // has dropped every reference (storage use count 1); at most prefetch + 3 are kept.
  mutable std::vector<torch::Tensor> pool_;
  torch::Tensor image_buffer(std::int64_t b) const;

  std::unique_ptr<background_producer<sample_batch>> producer_;  // last: joined first
  void stop();
  sample_batch read_batch(std::int64_t epoch, std::int64_t step) const;
};

}  // namespace skyssl::data
