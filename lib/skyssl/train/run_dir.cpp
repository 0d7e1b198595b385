#include "skyssl/train/run_dir.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/train/checkpoint.hpp"

namespace skyssl::train {
namespace fs = std::filesystem;

std::vector<std::string> run_markers(const fs::path& run_dir) {
  std::vector<std::string> out;
  for (const char* f : {"config.toml", "metrics.jsonl", "weights.pt", "weights.safetensors"})
    if (fs::exists(run_dir / f)) out.emplace_back(f);
  const auto ckpts = list_checkpoints(checkpoints_dir(run_dir));
  if (!ckpts.empty()) out.push_back("checkpoints/" + ckpts.front().filename().string());
  return out;
}

std::int64_t trim_metrics(const fs::path& run_dir, std::int64_t through_step) {
  const fs::path path = run_dir / "metrics.jsonl";
  if (!fs::exists(path)) return 0;
  std::ifstream in(path);
  std::string keep, drop, line;
  std::int64_t moved = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    bool superseded = false;
    try {
      const auto j = nlohmann::json::parse(line);
      superseded = !j.contains("event") && j.value("step", std::int64_t{0}) > through_step;
    } catch (const nlohmann::json::exception&) {
      superseded = true;  // a line cut short by a kill
    }
    (superseded ? drop : keep) += line + "\n";
    moved += superseded ? 1 : 0;
  }
  if (moved == 0) return 0;
  {
    std::ofstream old(run_dir / "metrics.superseded.jsonl", std::ios::app);
    old << drop;
    if (!old)
      throw error(
          fmt::format("cannot write '{}'", (run_dir / "metrics.superseded.jsonl").string()));
  }
  replace_file(path, keep);  // a unique temporary, fsync'd and renamed
  return moved;
}

}  // namespace skyssl::train
