#include "skyssl/train/checkpoint.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"

namespace skyssl::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* manifest_file = "MANIFEST.json";
constexpr const char* state_file = "state.json";
constexpr const char* tensors_file = "state.safetensors";
constexpr const char* config_file = "config.toml";
constexpr const char* tmp_prefix = ".tmp-";
constexpr const char* trash_prefix = ".trash-";

// "ckpt-<n>" -> n, or -1 (also for a number past int64: a long digit name overflowed before;
// tests/fuzz/checkpoint/corpus/long_step_name holds one).
std::int64_t step_of(const std::string& name) {
  if (name.rfind("ckpt-", 0) != 0 || name.size() == 5) return -1;
  std::int64_t v = 0;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    const int digit = name[i] - '0';
    if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return -1;
    v = v * 10 + digit;
  }
  return v;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw checkpoint_error(fmt::format("cannot open '{}'", p.string()));
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

nlohmann::json state_json(const checkpoint_data& c) {
  return {{"format", c.format},
          {"global_step", c.global_step},
          {"epoch", c.epoch},
          {"step", c.step},
          {"world", c.world},
          {"seed", c.seed},
          {"bn_group", c.bn_group},
          {"lr",
           {{"peak", c.schedule.peak},
            {"warmup_steps", c.schedule.warmup_steps},
            {"total_steps", c.schedule.total_steps}}}};
}

// Test hook: SKYSSL_TEST_CHECKPOINT_PAUSE=<step>:<seconds> sleeps while writing ckpt-<step>,
// after its data files and before its manifest, so a test can kill -9 the writer mid-write.
void test_pause(std::int64_t step) {
  const char* v = std::getenv("SKYSSL_TEST_CHECKPOINT_PAUSE");
  if (!v) return;
  char* rest = nullptr;
  if (std::strtoll(v, &rest, 10) != step || *rest != ':') return;
  std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(rest + 1)));
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

}  // namespace

checkpoint_options checkpoint_options_from(const skyssl::config& cfg, const std::string& s) {
  checkpoint_options o;
  o.every_steps = cfg.get_int(s + ".every_steps", o.every_steps);
  check_range(s + ".every_steps", static_cast<double>(o.every_steps), 0.0, 9.2e18);
  o.every_minutes = cfg.get_double(s + ".every_minutes", o.every_minutes);
  check_range(s + ".every_minutes", o.every_minutes, 0.0, 1e9);
  o.keep = cfg.get_int(s + ".keep", o.keep);
  check_range(s + ".keep", static_cast<double>(o.keep), 1.0, 1e6);
  return o;
}

fs::path checkpoints_dir(const fs::path& run_dir) { return run_dir / "checkpoints"; }
std::string checkpoint_name(std::int64_t global_step) {
  return fmt::format("ckpt-{}", global_step);
}

fs::path write_checkpoint(const fs::path& root, const checkpoint_data& c) {
  const fs::path final_dir = root / checkpoint_name(c.global_step);
  if (fs::exists(final_dir) && verify_checkpoint(final_dir).empty()) return final_dir;
  fs::create_directories(root);
  const fs::path tmp =
      root / fmt::format("{}{}-{}", tmp_prefix, checkpoint_name(c.global_step), ::getpid());
  remove_quietly(tmp);
  try {
    fs::create_directory(tmp);
    nlohmann::ordered_json manifest = {{"format", c.format}, {"files", nlohmann::json::object()}};
    auto record = [&](const char* name, std::uint64_t bytes, std::uint32_t crc) {
      manifest["files"][name] = {{"bytes", bytes}, {"crc32", crc}};
    };
    {
      durable_file f(tmp / tensors_file);
      model::named_tensors list(c.tensors.begin(), c.tensors.end());
      model::write_safetensors(list, {{"format", "skyssl-checkpoint"}},
                               [&f](const void* d, std::size_t n) { f.write(d, n); });
      f.finish();
      record(tensors_file, f.bytes(), f.crc32());
    }
    const std::string state = state_json(c).dump(2) + "\n";
    record(state_file, state.size(), write_durable(tmp / state_file, state));
    record(config_file, c.config_toml.size(), write_durable(tmp / config_file, c.config_toml));
    test_pause(c.global_step);
    write_durable(tmp / manifest_file, manifest.dump(2) + "\n");
    fsync_directory(tmp);
    // A damaged directory of the same name (the run resumed from an older checkpoint) is
    // replaced: moved aside first, so a crash here leaves the orphans, never a mix.
    const fs::path old =
        root / fmt::format("{}{}-{}", trash_prefix, checkpoint_name(c.global_step), ::getpid());
    const bool replacing = fs::exists(final_dir);
    if (replacing) fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fsync_directory(root);
    if (replacing) remove_quietly(old);
  } catch (const fs::filesystem_error& e) {
    remove_quietly(tmp);
    throw checkpoint_error(
        fmt::format("cannot write checkpoint {}: {}", final_dir.string(), e.what()));
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
  return final_dir;
}

namespace {

// state.json's fields into `c`, each of its type and in its range; "" or what is wrong. A file
// that passes its CRC can still be wrong (a writer's bug, or someone's edited checkpoint with
// recomputed CRCs): the checkpoint is then damaged, never a crash or a silent default.
std::string parse_state(const fs::path& file, checkpoint_data& c) {
  try {
    const auto j = nlohmann::json::parse(read_text(file));
    c.format = j.at("format").get<int>();
    c.global_step = j.at("global_step").get<std::int64_t>();
    c.epoch = j.at("epoch").get<std::int64_t>();
    c.step = j.at("step").get<std::int64_t>();
    const auto world = j.at("world").get<std::int64_t>();
    c.seed = j.at("seed").get<std::uint64_t>();
    c.bn_group = j.at("bn_group").get<std::int64_t>();
    c.schedule.peak = j.at("lr").at("peak").get<double>();
    c.schedule.warmup_steps = j.at("lr").at("warmup_steps").get<std::int64_t>();
    c.schedule.total_steps = j.at("lr").at("total_steps").get<std::int64_t>();
    if (world < 1 || world > (1 << 24))
      return fmt::format("{}: world {} is not a rank count", state_file, world);
    c.world = static_cast<int>(world);
    if (c.global_step < 0 || c.epoch < 0 || c.step < 0)
      return fmt::format("{}: negative step or epoch", state_file);
    if (c.bn_group < 0) return fmt::format("{}: bn_group {} < 0", state_file, c.bn_group);
    if (!std::isfinite(c.schedule.peak) || c.schedule.warmup_steps < 0 ||
        c.schedule.total_steps < 0)
      return fmt::format("{}: learning-rate schedule out of range", state_file);
  } catch (const nlohmann::json::exception& e) {
    return fmt::format("{} is malformed: {}", state_file, e.what());
  } catch (const checkpoint_error& e) {
    return e.what();
  }
  return {};
}

// The manifest's checks; JSON of the wrong shape or types is a damaged checkpoint too.
std::string verify_manifest(const fs::path& dir) {
  const fs::path mpath = dir / manifest_file;
  if (!fs::exists(mpath))
    return fmt::format("{} is missing (an interrupted write?)", manifest_file);
  try {
    const auto m = nlohmann::json::parse(read_text(mpath));
    if (!m.is_object() || !m.contains("format") || m["format"] != checkpoint_format_version)
      return fmt::format("{}: format {} (this build reads format {})", manifest_file,
                         m.is_object() ? m.value("format", nlohmann::json()).dump() : m.dump(),
                         checkpoint_format_version);
    const auto& files = m.at("files");
    for (const char* name : {tensors_file, state_file, config_file}) {
      if (!files.is_object() || !files.contains(name))
        return fmt::format("{} does not list {}", manifest_file, name);
      const auto& e = files.at(name);
      const auto bytes = e.at("bytes").get<std::uint64_t>();
      const auto crc = e.at("crc32").get<std::uint32_t>();
      if (!e.at("crc32").is_number_unsigned() || e.at("crc32").get<std::uint64_t>() != crc)
        return fmt::format("{}: crc32 of {} is not a 32-bit checksum", manifest_file, name);
      if (!fs::exists(dir / name)) return fmt::format("{} is missing", name);
      const file_digest d = digest_file(dir / name);
      if (d.bytes != bytes)
        return fmt::format("{} has {} bytes, the manifest says {} (truncated?)", name, d.bytes,
                           bytes);
      if (d.crc32 != crc)
        return fmt::format("{} fails its checksum (CRC-32 {:08x}, the manifest says {:08x})", name,
                           d.crc32, crc);
    }
  } catch (const nlohmann::json::exception& e) {
    return fmt::format("{} is malformed: {}", manifest_file, e.what());
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace

std::string verify_checkpoint(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "no such checkpoint directory";
  if (auto bad = verify_manifest(dir); !bad.empty()) return bad;
  checkpoint_data c;
  return parse_state(dir / state_file, c);
}

checkpoint_data read_checkpoint(const fs::path& dir) {
  if (const auto bad = verify_checkpoint(dir); !bad.empty())
    throw checkpoint_error(fmt::format("checkpoint '{}' is unusable: {}", dir.string(), bad));
  checkpoint_data c;
  if (const auto bad = parse_state(dir / state_file, c); !bad.empty())
    throw checkpoint_error(fmt::format("checkpoint '{}' is unusable: {}", dir.string(), bad));
  c.config_toml = read_text(dir / config_file);
  try {
    c.tensors = model::read_safetensors(dir / tensors_file);
  } catch (const checkpoint_error&) {
    throw;
  } catch (const error& e) {
    throw checkpoint_error(e.what());
  }
  return c;
}

std::vector<fs::path> list_checkpoints(const fs::path& root) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& e : fs::directory_iterator(root)) {
    const auto s = step_of(e.path().filename().string());
    if (s >= 0 && e.is_directory()) found.emplace_back(s, e.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

checkpoint_choice choose_checkpoint(const fs::path& root) {
  checkpoint_choice c;
  for (const auto& dir : list_checkpoints(root)) {
    c.any = true;
    const auto bad = verify_checkpoint(dir);
    if (bad.empty()) {
      c.chosen = dir;
      c.step = step_of(dir.filename().string());
      break;
    }
    c.rejected.push_back(fmt::format("{}: {}", dir.filename().string(), bad));
  }
  return c;
}

std::vector<std::string> prune_checkpoints(const fs::path& root, std::int64_t keep) {
  std::vector<std::string> removed;
  std::int64_t kept = 0;
  for (const auto& dir : list_checkpoints(root)) {
    // Only checkpoints that verify count towards `keep`: a damaged newest one must not push
    // out the last good one.
    if (kept < keep && verify_checkpoint(dir).empty()) {
      ++kept;
      continue;
    }
    if (kept < keep) continue;
    // Rename first, so a crash in remove_all never leaves a half-deleted ckpt-N behind.
    const fs::path trash = root / (trash_prefix + dir.filename().string());
    std::error_code ec;
    fs::rename(dir, trash, ec);
    remove_quietly(ec ? dir : trash);
    removed.push_back(dir.filename().string());
  }
  return removed;
}

std::vector<std::string> remove_orphans(const fs::path& root) {
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return removed;
  std::vector<fs::path> victims;
  for (const auto& e : fs::directory_iterator(root)) {
    const auto name = e.path().filename().string();
    if (name.rfind(tmp_prefix, 0) == 0 || name.rfind(trash_prefix, 0) == 0)
      victims.push_back(e.path());
  }
  for (const auto& v : victims) {
    remove_quietly(v);
    removed.push_back(v.filename().string());
  }
  return removed;
}

}  // namespace skyssl::train
