#include "skyssl/model/export.hpp"

#include <fmt/format.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include <fstream>
#include <system_error>

#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/model/safetensors.hpp"
#include "skyssl/model/weights.hpp"

namespace skyssl::model {

export_format parse_export_format(const std::string& name, const std::string& what) {
  if (name == "safetensors") return export_format::safetensors;
  if (name == "state_dict") return export_format::state_dict;
  throw config_error(fmt::format("{} must be 'safetensors' or 'state_dict', got '{}'", what, name));
}

export_report export_weights(const export_options& o) {
  auto encoder = model::load_run_encoder(o.run_dir);
  const auto& mo = encoder->options();
  const auto tensors = model::torchvision_state(encoder, o.head);
  export_report r;
  r.tensors = static_cast<std::int64_t>(tensors.size());
  for (const auto& [name, t] : tensors)
    if (t.requires_grad()) r.parameters += t.numel();
  const std::string arch = fmt::format("resnet{}", mo.depth);
  r.arch = fmt::format("{} width {}, {} bands, {} stem{}", arch, mo.width, mo.in_channels,
                       mo.sdss_stem ? "sdss" : "standard",
                       o.head ? fmt::format(", head {}", mo.head_dim) : "");

  refuse_output_over_input(o.out, {o.run_dir / model::run_weights_name, o.run_dir / "config.toml"},
                           "--out");
  {
    atomic_output f(o.out);
    if (o.format == export_format::safetensors) {
      const model::string_map meta = {{"format", "pt"},
                                      {"skyssl_arch", arch},
                                      {"width", std::to_string(mo.width)},
                                      {"in_channels", std::to_string(mo.in_channels)},
                                      {"stem", mo.sdss_stem ? "sdss" : "standard"},
                                      {"head_dim", o.head ? std::to_string(mo.head_dim) : "0"},
                                      {"source", o.run_dir.string()}};
      model::write_safetensors(tensors, meta,
                               [&](const void* data, std::size_t n) { f.write(data, n); });
    } else {
      c10::Dict<std::string, torch::Tensor> dict;
      for (const auto& [name, t] : tensors) dict.insert(name, t.detach().cpu().contiguous());
      const auto bytes = torch::pickle_save(dict);
      f.write(bytes.data(), bytes.size());
    }
    f.commit();
  }
  r.bytes = static_cast<std::int64_t>(std::filesystem::file_size(o.out));
  return r;
}

}  // namespace skyssl::model
