#pragma once
// Reads an arbitrary set of global rows of an archive into a sample_batch (images and the
// catalogue fields the augmentations need), rows in the order given. The shard reader's
// per-batch read without its prefetch thread: used where a pipeline needs samples outside its
// own slice of the global batch (shuffle_bn = local's key views).
#include <cstdint>
#include <vector>

#include "skyssl/data/archive.hpp"
#include "skyssl/data/sample_batch.hpp"

namespace skyssl::data {

// ids: distinct global rows in any order. check_finite: a NaN/Inf pixel is a data_error
// naming the file, dataset, sample and pixel (as the shard reader reports it).
sample_batch read_rows(const archive& a, const std::vector<std::int64_t>& ids, std::int64_t epoch,
                       std::int64_t step, bool check_finite);

}  // namespace skyssl::data
