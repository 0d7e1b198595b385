#pragma once
// MoCo v2 hyper-parameters, read from config section "moco".
#include <cstdint>
#include <string>

#include "skyssl/model/resnet.hpp"

namespace skyssl {
class config;
}

namespace skyssl::moco {

enum class shuffle_mode { gather, local, off };
// "gather" | "local" | "off"; config_error naming `key` otherwise. TOML booleans written by
// older configs are accepted: true = gather, false = off.
shuffle_mode parse_shuffle_mode(const std::string& key, const std::string& value);
const char* to_string(shuffle_mode m);

struct moco_options {
  std::int64_t K = 65536;                            // queue length (negatives)
  double m = 0.999;                                  // key encoder momentum
  double T = 0.2;                                    // softmax temperature
  std::int64_t dim = model::default_projection_dim;  // projection (feature) dimension
  // Images per BatchNorm statistics group; 0 = the whole per-rank batch. Each rank encodes its
  // batch in chunks of bn_group, so one rank with bn_group = B and global batch R*B computes
  // what R ranks with batch B compute.
  std::int64_t bn_group = 0;
  // How the key encoder's BN batches are formed (moco.shuffle_bn):
  //  gather: every rank all-gathers the view-2 images of the global batch, permutes them and
  //          encodes its slice (the reference implementation's shuffle BN);
  //  local:  every rank is handed the view-2 images of its slice of the permuted global batch
  //          by its input pipeline (it reads and augments those samples itself: a view is a
  //          pure function of seed, epoch and id), so only the keys are all-gathered. Same
  //          results as gather, bit for bit;
  //  off:    each rank encodes its own view-2 images (BN statistics shared by a query and its
  //          key: leaks the positive, for ablations only).
  shuffle_mode shuffle_bn = shuffle_mode::gather;
  std::uint64_t seed = 0;  // keys the queue initialisation and the shuffle permutations
};

moco_options moco_options_from(const skyssl::config& cfg, const std::string& section,
                               std::uint64_t seed);

// Throws config_error naming moco.K and the global batch unless K % global_batch == 0
// (the enqueue writes whole global batches and wraps exactly at K).
void check_queue_fits(std::int64_t K, std::int64_t global_batch);
// The per-rank BN group for a local batch; throws naming moco.bn_group unless it divides it.
std::int64_t resolve_bn_group(std::int64_t bn_group, std::int64_t local_batch);

}  // namespace skyssl::moco
