#pragma once
// Moving a module's parameters and buffers in and out by name, with every name and shape
// checked: LibTorch's own Module::load silently replaces a tensor of another shape. Used by
// resume (lib/train), skyssl-eval and every tool that loads weights.
#include <torch/nn/module.h>

#include <filesystem>
#include <string>

#include "skyssl/model/safetensors.hpp"

namespace skyssl::model {

// Parameters then buffers, as (prefix + name, tensor); the tensors are the module's own.
named_tensors state_tensors(const torch::nn::Module& m, const std::string& prefix = "");

// Copies tensors named prefix + <name> into every parameter and buffer of `m`. A missing name,
// a shape or dtype that differs, is an error naming `source` and the tensor; tensors in `from`
// without the prefix are ignored, and with it but unknown to `m` are an error.
void load_state(torch::nn::Module& m, const tensor_map& from, const std::string& prefix,
                const std::string& source);

// A LibTorch archive written by torch::save(module) (weights.pt), checked the same way.
// `context` says what the weights must match (e.g. "the model in runs/a/config.toml").
void load_weights_file(torch::nn::Module& m, const std::filesystem::path& file,
                       const std::string& context);

}  // namespace skyssl::model
