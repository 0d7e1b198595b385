// skyssl-export: a run's trained encoder for PyTorch users, with torchvision ResNet names.
//   skyssl-export --run-dir runs/ex --out resnet18.safetensors [--head]
//   skyssl-export --run-dir runs/ex --out resnet18.pt --format state_dict   # torch.load
// See docs/search-and-export.md for loading it into torchvision.
#include <CLI/CLI.hpp>

#include "apps/common/tool_main.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/core/stop_signals.hpp"
#include "skyssl/model/export.hpp"

using namespace skyssl;

int main(int argc, char** argv) {
  stop_cleanly_on_signals(
      "skyssl-export: stopped by a signal; --out was not written: run the command again");
  CLI::App app{"skyssl-export: a run's encoder as safetensors or a PyTorch state_dict"};
  model::export_options o;
  std::string run_dir, out, format = "safetensors";
  app.add_option("--run-dir", run_dir, "run directory written by skyssl-train")->required();
  app.add_option("--out", out, "file to write")->required();
  app.add_flag("--head", o.head, "include the MoCo projection head (fc.0.*, fc.2.*)");
  app.add_option("--format", format, "safetensors (default) or state_dict (torch.load)");
  CLI11_PARSE(app, argc, argv);
  std::unique_ptr<dist::communicator> comm;
  return apps::guarded_main("skyssl-export", comm, [&] {
    o.run_dir = run_dir;
    o.out = out;
    o.format = model::parse_export_format(format, "--format");
    const auto r = model::export_weights(o);
    log::info("skyssl-export: {} ({} tensors, {} parameters, {} bytes) -> {}", r.arch, r.tensors,
              r.parameters, r.bytes, out);
    return 0;
  });
}
