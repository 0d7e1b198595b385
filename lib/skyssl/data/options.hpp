#pragma once
// The [data] section of a skyssl config, as plain structs:
//   data.path        = "survey.h5" | "shards/*.h5" | "@train.txt" | ["a.h5", "b.h5"]
//   data.images      = "images"
//   data.fields.<canonical> = "<dataset>"   e.g. [data.fields] ebv = "e_bv"
//   data.bands       = ["g", "r", "z"]     (only when the files lack the attribute)
//   data.pixel_scale = 0.262                (idem)
//   data.survey      = "decals" | "sdss"    (preset for missing attributes)
//   data.prefetch    = 2                    (batches read ahead by the reader thread)
//   data.check_finite = true                (NaN/Inf pixels are a data_error)
#include <string>

#include "skyssl/data/archive.hpp"

namespace skyssl::data {

struct reader_options {
  int prefetch = 2;  // batches in flight ahead of next(); memory ~ (prefetch+1) batches
  bool check_finite = true;
};

struct data_options {
  archive_options archive;
  reader_options reader;
};

data_options parse_data_options(const skyssl::config& cfg, const std::string& section = "data");

}  // namespace skyssl::data
