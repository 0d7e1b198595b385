#pragma once
// Moving a module's parameters and buffers in and out by name, with every name and shape
// checked: LibTorch's own Module::load silently replaces a tensor of another shape. Used by
// resume (lib/train), skyssl-eval and every tool that loads weights.
#include <torch/nn/module.h>

#include <filesystem>
#include <string>

#include "skyssl/model/resnet.hpp"
#include "skyssl/model/safetensors.hpp"

namespace skyssl {
class config;
}

namespace skyssl::model {

// Parameters then buffers, as (prefix + name, tensor); the tensors are the module's own.
named_tensors state_tensors(const torch::nn::Module& m, const std::string& prefix = "");

// Copies tensors named prefix + <name> into every parameter and buffer of `m`. A missing name,
// a shape or dtype that differs, is an error naming `source` and the tensor; tensors in `from`
// without the prefix are ignored, and with it but unknown to `m` are an error.
void load_state(torch::nn::Module& m, const tensor_map& from, const std::string& prefix,
                const std::string& source);

// The run's weights as skyssl-train writes them (run_dir/weights.safetensors: the query encoder
// and head, torchvision names). weights.pt beside it is a LibTorch (TorchScript) archive for
// PyTorch users; loading one runs code it carries, so no skyssl tool ever reads it.
inline constexpr const char* run_weights_name = "weights.safetensors";
// run_dir/weights.safetensors; an error naming it and how to get it when absent.
std::filesystem::path run_weights_file(const std::filesystem::path& run_dir);

// Throws, naming `file` and saying `remedy`, when `file` is a pickle or a zip (TorchScript,
// torch.save) archive: skyssl reads tensors only from files that hold no code. Looks at the
// first 9 bytes only; anything else is left to the safetensors parser.
void refuse_code_archive(const std::filesystem::path& file, const std::string& remedy);

// A safetensors file of `m`'s state (state_tensors names), checked as load_state does; a
// pickle or TorchScript archive is refused unread. `context` says what the weights must match
// (e.g. "the model in runs/a/config.toml").
void load_weights_file(torch::nn::Module& m, const std::filesystem::path& file,
                       const std::string& context);

// The shape of a run's query encoder: [model] of its config, with the MoCo projection head of
// moco.dim, for `channels` bands. Every loader of a run's encoder builds it from this.
resnet_options run_encoder_options(const config& cfg, int channels);

// The query encoder of a run directory written by skyssl-train: config.toml's [model] section
// and moco.dim (the projection head), weights.safetensors loaded with the checks above. The
// band count is read from the file's first convolution, so the run's archive need not be at
// hand. Errors name the file and the flag to fix (--run-dir).
resnet load_run_encoder(const std::filesystem::path& run_dir);

// The tensors torchvision's ResNet state_dict holds, by its names (conv1.weight,
// bn1.running_mean, layer1.0.conv1.weight, ...); with_head adds the MoCo v2 head as MoCo's
// torchvision model names it (fc.0.*, fc.2.*: Linear, ReLU, Linear).
named_tensors torchvision_state(const resnet& m, bool with_head);

// Loads torchvision-named weights (a safetensors file: skyssl-export's, or one converted from
// PyTorch) into `m`. Every backbone tensor must be in the file with m's shape and dtype; the
// head (fc.0.*, fc.2.*) is loaded when the file has one, else m keeps its own; torchvision's
// classifier (fc.weight, fc.bias) has no place in a MoCo encoder and is skipped. Anything
// else is an error naming the file and the tensors. Returns whether the head was loaded.
bool load_torchvision_weights(resnet& m, const std::filesystem::path& file);

}  // namespace skyssl::model
