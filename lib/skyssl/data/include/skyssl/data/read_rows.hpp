#pragma once
// Reads an arbitrary set of global rows of an archive into a sample_batch (images and the
// catalogue fields the augmentations need), rows in the order given: the shard reader's
// per-batch read, also used where a pipeline needs samples outside its own slice of the global
// batch (shuffle_bn = local's key views). Rows are read in sorted order (neighbours coalesce),
// each straight into its slot of the batch, by `threads` readers at once: the threads of
// `pool` when given (the shard reader keeps one for its lifetime), else threads started for
// this call. The fields come from `fields` when given (in memory, see field_cache.hpp), else
// from the files, one small read per row and field.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "skyssl/core/thread_pool.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/data/field_cache.hpp"
#include "skyssl/data/options.hpp"
#include "skyssl/data/sample_batch.hpp"

namespace skyssl::data {

struct read_rows_options {
  nonfinite_policy nonfinite = nonfinite_policy::error;  // error: data_error naming the pixel
  int threads = 1;                      // reads in flight (ignored when `pool` is given)
  thread_pool* pool = nullptr;          // persistent read threads; pool->size() reads in flight
  const field_cache* fields = nullptr;  // ebv, psfsize_<band> of `a` in this order (see below)
};

// The datasets a batch's fields come from: field_dataset("ebv"), then field_dataset(
// "psfsize_<band>") for each band ("" where the archive has none). A field_cache given to
// read_rows must hold these, in this order.
std::vector<std::string> batch_field_names(const archive& a);

// ids: distinct global rows in any order. `images`: a (B, C, H, W) float32 contiguous buffer to
// fill (recycled by the caller), or undefined to allocate one.
sample_batch read_rows(const archive& a, const std::vector<std::int64_t>& ids, std::int64_t epoch,
                       std::int64_t step, const read_rows_options& opts, torch::Tensor images = {});

}  // namespace skyssl::data
