#pragma once
// Frozen-encoder inference: centre crops (the validation view) through the backbone and,
// when the model has one, the projection head. In memory for a tensor of images
// (embed_images, used by the end-of-training hook and the baselines), or streamed over a whole
// archive into an embedding file on any number of ranks (embed_to_file, skyssl-embed).
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/augment_config.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl::dist {
class communicator;
}

namespace skyssl::embed {

struct encoder_outputs {
  torch::Tensor backbone;    // (N, D) float32, raw pooled features
  torch::Tensor projection;  // (N, P) float32, raw head outputs; undefined without a head
};

// images (N,C,h,w) already cropped; eval mode and no grad inside, the module's training flag
// restored after. Batches of `chunk` rows, on the module's device; results on the CPU.
encoder_outputs encode(model::resnet& encoder, const torch::Tensor& crops, std::int64_t chunk,
                       bool with_projection);

// Centre-cropped features of rows [0, n) of an archive, raw (n <= 0: all rows), in memory.
encoder_outputs embed_archive(model::resnet& encoder, const data::archive& archive,
                              const kernels::augment_config& augment, std::int64_t chunk,
                              bool with_projection, std::int64_t n = 0);

struct embed_options {
  std::string out;  // the embedding file
  bool backbone = true, projection = true;
  std::int64_t chunk = 256;         // rows per chunk: the unit of work, of resume and of memory
  std::vector<std::string> fields;  // archive fields to copy (empty: every numeric 1-D field)
  std::string weights;              // recorded in the file
  std::string weights_digest;       // idem (weights_digest())
  std::int64_t stop_after = 0;      // testing: exit(86) after this many chunks on each rank
};

struct embed_report {
  std::int64_t rows = 0, chunks = 0;
  std::int64_t chunks_done_before = 0;   // found done in the file (resume)
  std::int64_t rows_embedded = 0;        // by all ranks in this run
  double seconds = 0, images_per_s = 0;  // over all ranks
};

// One line describing the architecture ("resnet18 width=16 in_channels=3 stem=standard
// head=128"): what an embedding file must match to be read as this model's.
std::string model_description(const model::resnet_options& o);

// FNV-1a 64 of a weights file's bytes, as hex: tells a retrained run from the one embedded.
std::string weights_digest(const std::string& path);

// Every rank of `comm` calls this. Chunks not yet marked done in `out` are dealt round-robin
// to the ranks; each rank reads, crops, encodes and writes its chunks independently (memory:
// one chunk). Rank 0 logs progress with ETA. A rerun after a crash skips the finished chunks.
embed_report embed_to_file(model::resnet& encoder, const data::archive& archive,
                           const kernels::augment_config& augment, const embed_options& options,
                           dist::communicator& comm);

}  // namespace skyssl::embed
