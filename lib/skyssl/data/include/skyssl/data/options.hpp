#pragma once
// The [data] section of a skyssl config, as plain structs:
//   data.path        = "survey.h5" | "shards/*.h5" | "@train.txt" | ["a.h5", "b.h5"]
//   data.images      = "images"
//   data.fields.<canonical> = "<dataset>"   e.g. [data.fields] ebv = "e_bv"
//   data.bands       = ["g", "r", "z"]     (only when the files lack the attribute)
//   data.pixel_scale = 0.262                (idem)
//   data.survey      = "decals" | "sdss"    (preset for missing attributes)
//   data.prefetch    = 2                    (batches read ahead by the reader thread)
//   data.read_threads = 2                   (reads in flight per batch, 1-64)
//   data.direct_reads = true                (pread at file offsets where the layout allows)
//   data.nonfinite   = "error" | "zero" | "skip"   (what a NaN/Inf pixel does)
//   data.cache       = "none" | "memory"    (the archive held in the ranks' memory)
//   data.cache_limit_gb = 0                 (memory the cache may use per node; 0: available)
//   data.allow_external = false             (follow external links/storage, virtual datasets)
#include <string>

#include "skyssl/data/archive.hpp"

namespace skyssl::data {

// What the reader does with a sample holding NaN/Inf pixels (real cutouts have masked ones):
// error: a data_error naming file, sample, band and pixel; zero: those pixels become 0 and
// are counted; skip: one scan at start finds every such sample and the epoch plan leaves them
// out (the same on every rank), their number is logged.
enum class nonfinite_policy { error, zero, skip };
nonfinite_policy parse_nonfinite_policy(const std::string& key, const std::string& value);
const char* to_string(nonfinite_policy p);

struct reader_options {
  int prefetch = 2;      // batches in flight ahead of next(); memory ~ (prefetch+1) batches
  int read_threads = 2;  // threads reading the rows of one batch (queue depth for the storage)
  nonfinite_policy nonfinite = nonfinite_policy::error;
};

// data.cache = "memory": the archive held in the ranks' memory (memory_cache.hpp).
struct cache_options {
  std::string mode = "none";  // data.cache
  double limit_gb = 0;        // data.cache_limit_gb (0: MemAvailable)
};

struct data_options {
  archive_options archive;
  reader_options reader;
  cache_options cache;
};

data_options data_options_from(const skyssl::config& cfg, const std::string& section = "data");

}  // namespace skyssl::data
