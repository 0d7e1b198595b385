#pragma once
// End-of-training evaluation hook: backbone representations of centre crops (saved as
// embeddings.pt) and view retrieval: for each galaxy's first view, is its own second view the
// nearest (cosine) among all second views? Top-1 accuracy against chance 1/N.
#include <torch/types.h>

#include <filesystem>

#include "skyssl/dist/communicator.hpp"
#include "skyssl/model/resnet.hpp"

namespace skyssl::eval {

// (The embedding and the retrieval top-1 are lib/embed's encode and lib/eval's retrieval_top1,
// shared with skyssl-eval.)
struct eval_result {
  std::int64_t count = 0;  // galaxies (over all ranks)
  double top1 = 0;         // view-retrieval top-1
  double chance = 0;       // 1 / count
};

// This rank's share of the galaxies: ids, centre crops and two augmented views of each
// (skyssl-train's archive_source::eval makes them).
struct training_views {
  torch::Tensor ids, center, view1, view2;
};

// Gathers all ranks' views, writes eval.json and embeddings.pt in run_dir on rank 0.
eval_result evaluate(model::resnet& encoder, const training_views& views, dist::communicator& comm,
                     const std::filesystem::path& run_dir);

}  // namespace skyssl::eval
