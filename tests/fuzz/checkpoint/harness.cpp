// libFuzzer: the checkpoint reader (train/checkpoint: choose_checkpoint, verify_checkpoint,
// read_checkpoint) over a checkpoint directory made from the input. The input is sections
// separated by the line "--8<--": the directory name ("ckpt-40", or anything), MANIFEST.json,
// state.json, config.toml, state.safetensors. A first byte of 'R' recomputes the manifest's
// sizes and CRC-32s over the fuzzed files, so inputs get past the checksums into state.json and
// safetensors parsing; any other first byte keeps the fuzzed manifest. Checked: no memory
// error, no undefined behaviour, no exception but skyssl::error.
#include <zlib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skyssl/train/checkpoint.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool recompute = data[0] == 'R';
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> part;
  const std::string cut = "\n--8<--\n";
  for (std::size_t p = 0;;) {
    const auto e = text.find(cut, p);
    part.push_back(text.substr(p, e == std::string::npos ? std::string::npos : e - p));
    if (e == std::string::npos) break;
    p = e + cut.size();
  }
  part.resize(5);
  const auto root = skyssl::fuzz::scratch() / "checkpoints";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root);
  // Directory names: a path separator or "." / ".." would leave the root; keep one component.
  std::string name = part[0].substr(0, 200);
  for (auto& ch : name)
    if (ch == '/' || ch == '\0') ch = '_';
  if (name.empty() || name == "." || name == "..") name = "ckpt-1";
  const auto dir = root / name;
  if (!fs::create_directory(dir, ec)) return 0;
  const char* files[] = {"state.json", "config.toml", "state.safetensors"};
  for (int k = 0; k < 3; ++k) skyssl::fuzz::write_file(dir / files[k], part[2 + k]);
  if (recompute) {
    nlohmann::json m = {{"format", 1}, {"files", nlohmann::json::object()}};
    for (int k = 0; k < 3; ++k) {
      const auto& b = part[2 + k];
      const auto crc =
          crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()));
      m["files"][files[k]] = {{"bytes", b.size()}, {"crc32", static_cast<std::uint32_t>(crc)}};
    }
    skyssl::fuzz::write_file(dir / "MANIFEST.json", m.dump());
  } else {
    skyssl::fuzz::write_file(dir / "MANIFEST.json", part[1]);
  }
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    const auto choice = skyssl::train::choose_checkpoint(root);
    if (choice.chosen) {
      const auto c = skyssl::train::read_checkpoint(*choice.chosen);
      (void)c;
    }
  });
  return 0;
}
