#pragma once
// A run's trained encoder for PyTorch users: the query encoder's backbone (and optionally the
// MoCo head) under torchvision ResNet names, as a safetensors file (JSON header + raw
// little-endian tensors; any language reads it) or as a state_dict that Python's torch.load
// reads (LibTorch's pickle writer: a dict of name -> tensor). Either loads into
// torchvision.models.resnet18/50 (fc = Identity, or MoCo's Linear-ReLU-Linear head) with
// strict=True; see docs/search-and-export.md.
#include <cstdint>
#include <filesystem>
#include <string>

namespace skyssl::model {

enum class export_format { safetensors, state_dict };
// "safetensors" or "state_dict"; config_error naming `what` otherwise.
export_format parse_export_format(const std::string& name, const std::string& what);

struct export_options {
  std::filesystem::path run_dir;
  std::filesystem::path out;
  bool head = false;
  export_format format = export_format::safetensors;
};

struct export_report {
  std::int64_t tensors = 0;
  std::int64_t parameters = 0;  // elements over the exported parameters (not buffers)
  std::int64_t bytes = 0;       // file size
  std::string arch;             // e.g. "resnet18 width 64, 3 bands, standard stem"
};

// Loads the run's encoder (model::load_run_encoder) and writes `out` (through a temporary
// and a rename). The safetensors metadata records arch, width, in_channels, stem, head_dim
// and the run directory.
export_report export_weights(const export_options& o);

}  // namespace skyssl::model
