// lib/skyssl/train/checkpoint: the on-disk format, atomic writes, verification, choosing the
// newest good checkpoint, pruning, orphans, metrics trimming, and config compatibility.
#include "tests/support/torch_doctest.hpp"

#include <sys/mount.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/model/safetensors.hpp"
#include "skyssl/train/checkpoint.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/train/run_dir.hpp"
#include "skyssl/train/state_io.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
using namespace skyssl::train;
namespace fs = std::filesystem;

namespace {

checkpoint_data sample(std::int64_t step, std::int64_t floats = 1000) {
  checkpoint_data c;
  c.global_step = step;
  c.epoch = step / 10;
  c.step = step % 10;
  c.world = 2;
  c.seed = 42;
  c.bn_group = 16;
  c.schedule = {0.5, 20, 400};
  c.config_toml = "[train]\nseed = 42\n";
  c.tensors["encoder_q.w"] = torch::arange(floats, torch::kFloat32) * static_cast<float>(step);
  c.tensors["queue.ptr"] = torch::tensor({step}, torch::kInt64);
  c.tensors["half"] = torch::ones({3, 2}, torch::kFloat16);
  return c;
}

fs::path fresh(const std::string& name) {
  auto d = skyssl::test::tmp_dir("checkpoint") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void flip_byte(const fs::path& p, std::size_t at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("safetensors: round trip of names, dtypes, shapes, bytes and metadata") {
  model::named_tensors in = {{"a", torch::randn({2, 3})},
                             {"b.c", torch::arange(5, torch::kInt64)},
                             {"d", torch::tensor({1.5}, torch::kFloat64)},
                             {"e", torch::ones({4}, torch::kBFloat16)}};
  std::string bytes;
  const auto n = model::write_safetensors(in, {{"k", "v"}}, [&](const void* d, std::size_t s) {
    bytes.append(static_cast<const char*>(d), s);
  });
  CHECK(n == bytes.size());
  // The header length is little-endian and the data starts 8-byte aligned.
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK((8 + header) % 8 == 0);
  CHECK(bytes.substr(8, 1) == "{");
  model::string_map meta;
  const auto out = model::parse_safetensors(bytes, "mem", &meta);
  CHECK(meta.at("k") == "v");
  REQUIRE(out.size() == 4);
  for (const auto& [name, t] : in) {
    CHECK((out.at(name).scalar_type() == t.scalar_type()));
    CHECK(torch::equal(out.at(name), t));
  }
  // Truncated files and garbage are refused with the source named.
  CHECK_THROWS_WITH_AS(model::parse_safetensors(bytes.substr(0, bytes.size() - 4), "cut.st"),
                       doctest::Contains("cut.st"), error);
  CHECK_THROWS_WITH_AS(model::parse_safetensors("xyz", "tiny.st"), doctest::Contains("tiny.st"),
                       error);
}

TEST_CASE("write, verify and read a checkpoint; an existing good one is kept as it is") {
  const auto root = fresh("roundtrip");
  const auto c = sample(30);
  const auto dir = write_checkpoint(root, c);
  CHECK(dir == root / "ckpt-30");
  for (const char* f : {"state.safetensors", "state.json", "config.toml", "MANIFEST.json"})
    CHECK_MESSAGE(fs::exists(dir / f), f);
  CHECK(verify_checkpoint(dir).empty());
  const auto r = read_checkpoint(dir);
  CHECK(r.global_step == 30);
  CHECK(r.epoch == 3);
  CHECK(r.step == 0);
  CHECK(r.world == 2);
  CHECK(r.seed == 42);
  CHECK(r.bn_group == 16);
  CHECK(r.schedule.peak == 0.5);
  CHECK(r.schedule.warmup_steps == 20);
  CHECK(r.schedule.total_steps == 400);
  CHECK(r.config_toml == c.config_toml);
  REQUIRE(r.tensors.size() == c.tensors.size());
  for (const auto& [n, t] : c.tensors) CHECK(torch::equal(r.tensors.at(n), t));
  // Nothing is left in the parent but the checkpoint.
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(root)) entries += e.path() == dir ? 1 : 100;
  CHECK(entries == 1);
  // Writing the same step again (a resume that stops at once) leaves the files untouched.
  const auto mtime = fs::last_write_time(dir / "state.safetensors");
  auto other = sample(30);
  other.tensors["encoder_q.w"] += 1;
  write_checkpoint(root, other);
  CHECK(fs::last_write_time(dir / "state.safetensors") == mtime);
  CHECK(torch::equal(read_checkpoint(dir).tensors.at("encoder_q.w"), c.tensors.at("encoder_q.w")));
}

TEST_CASE("damaged checkpoints are named and skipped; the newest good one is chosen") {
  const auto root = fresh("choose");
  for (std::int64_t s : {10, 20, 30, 40}) write_checkpoint(root, sample(s));
  // 40: a flipped bit in the tensors; 30: truncated; 20 good; 10 good.
  flip_byte(root / "ckpt-40" / "state.safetensors", 500);
  fs::resize_file(root / "ckpt-30" / "state.json", 10);
  CHECK(verify_checkpoint(root / "ckpt-40").find("state.safetensors fails its checksum") !=
        std::string::npos);
  CHECK(verify_checkpoint(root / "ckpt-30").find("state.json has 10 bytes") != std::string::npos);
  CHECK_THROWS_WITH_AS(read_checkpoint(root / "ckpt-40"), doctest::Contains("ckpt-40"),
                       checkpoint_error);
  const auto c = choose_checkpoint(root);
  REQUIRE(c.chosen);
  CHECK(*c.chosen == root / "ckpt-20");
  CHECK(c.step == 20);
  REQUIRE(c.rejected.size() == 2);
  CHECK(c.rejected[0].rfind("ckpt-40: state.safetensors", 0) == 0);
  CHECK(c.rejected[1].rfind("ckpt-30: state.json", 0) == 0);
  CHECK(c.any);
  // A checkpoint without its manifest is an interrupted write.
  fs::remove(root / "ckpt-20" / "MANIFEST.json");
  CHECK(verify_checkpoint(root / "ckpt-20").find("MANIFEST.json is missing") != std::string::npos);
  CHECK(*choose_checkpoint(root).chosen == root / "ckpt-10");
  fs::remove(root / "ckpt-10" / "config.toml");
  const auto none = choose_checkpoint(root);
  CHECK(!none.chosen);
  CHECK(none.any);
  CHECK(none.rejected.size() == 4);
  CHECK(!choose_checkpoint(fresh("empty")).any);
  // Names that only look like checkpoints are ignored; numbers sort as numbers.
  const auto order = fresh("order");
  for (std::int64_t s : {9, 100, 11}) write_checkpoint(order, sample(s));
  fs::create_directory(order / "ckpt-x1");
  const auto l = list_checkpoints(order);
  REQUIRE(l.size() == 3);
  CHECK(l[0].filename() == "ckpt-100");
  CHECK(l[1].filename() == "ckpt-11");
  CHECK(l[2].filename() == "ckpt-9");
}

namespace {

// Replaces `name` in checkpoint `dir` by `text` and records its size and CRC in the manifest,
// as someone editing a checkpoint would: the CRCs pass, the content must still be checked.
void rewrite_with_crc(const fs::path& dir, const std::string& name, const std::string& text) {
  { std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << text; }
  std::ifstream in(dir / "MANIFEST.json");
  auto m = nlohmann::json::parse(in);
  const auto d = digest_file(dir / name);
  if (name != "MANIFEST.json") {
    m["files"][name] = {{"bytes", d.bytes}, {"crc32", d.crc32}};
    std::ofstream(dir / "MANIFEST.json", std::ios::trunc) << m.dump(2);
  }
}

std::string state_text(const fs::path& dir) {
  std::ifstream in(dir / "state.json");
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("well-formed JSON of the wrong types or ranges is a damaged checkpoint, not a crash") {
  const auto root = fresh("typed");
  for (std::int64_t s : {10, 20}) write_checkpoint(root, sample(s));
  const auto newest = root / "ckpt-20";
  const auto good_state = state_text(newest);
  auto with = [&](const std::string& key, const nlohmann::json& v) {
    auto j = nlohmann::json::parse(good_state);
    j[key] = v;
    rewrite_with_crc(newest, "state.json", j.dump(2));
    return verify_checkpoint(newest);
  };
  CHECK(verify_checkpoint(newest).empty());
  CHECK(with("world", 0).find("state.json: world 0 is not a rank count") != std::string::npos);
  CHECK(with("world", -3).find("world -3") != std::string::npos);
  CHECK(with("world", 1LL << 40).find("is not a rank count") != std::string::npos);
  CHECK(with("global_step", "twenty").find("state.json is malformed") != std::string::npos);
  CHECK(with("lr", 0.5).find("state.json is malformed") != std::string::npos);
  CHECK(with("step", -1).find("negative step") != std::string::npos);
  // Auto-resume falls back to the older checkpoint, naming what is wrong with the newer one.
  with("world", 0);
  auto c = choose_checkpoint(root);
  REQUIRE(c.chosen);
  CHECK(*c.chosen == root / "ckpt-10");
  REQUIRE(c.rejected.size() == 1);
  CHECK(c.rejected[0].find("world 0") != std::string::npos);
  CHECK_THROWS_WITH_AS(read_checkpoint(newest), doctest::Contains("world 0"), checkpoint_error);
  // The manifest: entries of the wrong type, a manifest that is no object.
  rewrite_with_crc(newest, "state.json", good_state);
  CHECK(verify_checkpoint(newest).empty());
  std::ifstream in(newest / "MANIFEST.json");
  const auto manifest = nlohmann::json::parse(in);
  auto m = manifest;
  m["files"]["state.json"]["bytes"] = "12";
  rewrite_with_crc(newest, "MANIFEST.json", m.dump());
  CHECK(verify_checkpoint(newest).find("MANIFEST.json is malformed") != std::string::npos);
  m = manifest;
  m["files"] = nlohmann::json::array({1, 2});
  rewrite_with_crc(newest, "MANIFEST.json", m.dump());
  CHECK(verify_checkpoint(newest).find("MANIFEST.json does not list") != std::string::npos);
  m = manifest;
  m["files"]["state.json"]["crc32"] = 1LL << 40;
  rewrite_with_crc(newest, "MANIFEST.json", m.dump());
  CHECK(verify_checkpoint(newest).find("not a 32-bit checksum") != std::string::npos);
  rewrite_with_crc(newest, "MANIFEST.json", "[1, 2, 3]");
  CHECK(verify_checkpoint(newest).find("MANIFEST.json: format") != std::string::npos);
  c = choose_checkpoint(root);
  REQUIRE(c.chosen);
  CHECK(*c.chosen == root / "ckpt-10");
  // A name whose number does not fit in 64 bits is not a checkpoint (it used to overflow).
  fs::create_directory(root / "ckpt-99999999999999999999999");
  const auto l = list_checkpoints(root);
  REQUIRE(l.size() == 2);
  CHECK(l[0].filename() == "ckpt-20");
}

TEST_CASE("prune keeps the newest good checkpoints; orphans of killed writes are removed") {
  const auto root = fresh("prune");
  for (std::int64_t s : {1, 2, 3, 4, 5}) write_checkpoint(root, sample(s));
  flip_byte(root / "ckpt-5" / "state.safetensors", 300);
  const auto removed = prune_checkpoints(root, 2);
  // ckpt-5 is damaged: it does not count, so 4 and 3 stay (and 5, newer, is left for a look).
  CHECK(removed == std::vector<std::string>{"ckpt-2", "ckpt-1"});
  CHECK(fs::exists(root / "ckpt-5"));
  CHECK(fs::exists(root / "ckpt-4"));
  CHECK(fs::exists(root / "ckpt-3"));
  fs::create_directory(root / ".tmp-ckpt-6-1234");
  fs::create_directory(root / ".trash-ckpt-2");
  const auto orphans = remove_orphans(root);
  CHECK(orphans.size() == 2);
  CHECK(!fs::exists(root / ".tmp-ckpt-6-1234"));
  CHECK(!fs::exists(root / ".trash-ckpt-2"));
  CHECK(fs::exists(root / "ckpt-4"));
}

TEST_CASE("a failing write (full disk) leaves the previous checkpoint and no temporary") {
  auto root = fresh("full");
  // A real full disk where we may mount a small tmpfs (root); else the injected failure.
  const bool mounted = ::mount("tmpfs", root.c_str(), "tmpfs", 0, "size=64k") == 0;
  MESSAGE(std::string(mounted ? "on a 64 KiB tmpfs" : "tmpfs not mountable here: injected ENOSPC"));
  write_checkpoint(root, sample(1, 1000));  // 4 KB
  CHECK(verify_checkpoint(root / "ckpt-1").empty());
  std::string what;
  if (mounted) {
    try {
      write_checkpoint(root, sample(2, 40000));  // 160 KB: does not fit
    } catch (const checkpoint_error& e) {
      what = e.what();
    }
  } else {
    setenv("SKYSSL_TEST_WRITE_FAIL", "enospc", 1);
    try {
      write_checkpoint(root, sample(2, 1000));
    } catch (const checkpoint_error& e) {
      what = e.what();
    }
    unsetenv("SKYSSL_TEST_WRITE_FAIL");
  }
  MESSAGE(what);
  CHECK(what.find("No space left on device") != std::string::npos);
  CHECK(what.find("state.safetensors") != std::string::npos);
  CHECK(verify_checkpoint(root / "ckpt-1").empty());
  CHECK(!fs::exists(root / "ckpt-2"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(root)) ++entries;
  CHECK(entries == 1);
  if (mounted) ::umount(root.c_str());
}

TEST_CASE("metrics.jsonl continues from the checkpoint's step; later records are kept aside") {
  const auto dir = fresh("trim");
  {
    std::ofstream m(dir / "metrics.jsonl");
    m << R"({"event": "start"})"
         "\n"
      << R"({"step": 2, "loss": 1.0})"
         "\n"
      << R"({"step": 4, "loss": 0.9})"
         "\n"
      << R"({"step": 6, "loss": 0.8})"
         "\n"
      << R"({"step": 8, "lo)";  // cut short by a kill
  }
  CHECK(trim_metrics(dir, 4) == 2);
  std::ifstream in(dir / "metrics.jsonl");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  CHECK(all ==
        "{\"event\": \"start\"}\n{\"step\": 2, \"loss\": 1.0}\n{\"step\": 4, \"loss\": 0.9}\n");
  std::ifstream old(dir / "metrics.superseded.jsonl");
  std::string moved((std::istreambuf_iterator<char>(old)), {});
  CHECK(moved.find("\"step\": 6") != std::string::npos);
  CHECK(trim_metrics(dir, 4) == 0);
  CHECK(run_markers(dir) == std::vector<std::string>{"metrics.jsonl"});
  CHECK(run_markers(fresh("nothing")).empty());
}

TEST_CASE("config compatibility: differing keys are named; resumable keys may change") {
  const std::string before =
      "[model]\narch = \"resnet18\"\n[moco]\nK = 1024\nbn_group = 0\n[train]\nepochs = 10\n"
      "base_lr = 0.24\nglobal_batch = 64\n";
  auto now = config::from_string(before, "now");
  CHECK(incompatible_keys(now, before).empty());
  now.apply_override("train.epochs=20");     // longer campaign: allowed
  now.apply_override("checkpoint.keep=5");   // allowed
  now.apply_override("train.base_lr=0.24");  // same value
  now.apply_override("train.global_batch=64");
  now.apply_override("train.cudnn_benchmark=false");  // which algorithm, not what it computes
  CHECK(incompatible_keys(now, before).empty());
  {
    auto nhwc = now;  // the memory format changes the arithmetic: refused
    nhwc.apply_override("train.channels_last=true");
    const auto e = incompatible_keys(nhwc, before);
    REQUIRE(e.size() == 1);
    CHECK(e[0] == "train.channels_last: checkpoint unset, now true");
  }
  now.apply_override("moco.K=2048");
  now.apply_override("model.arch=\"resnet50\"");
  now.apply_override("augment.crop=64");
  const auto d = incompatible_keys(now, before);
  REQUIRE(d.size() == 3);
  CHECK(d[0] == "moco.K: checkpoint 1024, now 2048");
  CHECK(d[1] == "model.arch: checkpoint 'resnet18', now 'resnet50'");
  CHECK(d[2] == "augment.crop: checkpoint unset, now 64");
  // An integer written as a float is the same number.
  auto f = config::from_string("[train]\nbase_lr = 1.0\n", "f");
  CHECK(incompatible_keys(f, "[train]\nbase_lr = 1\n").empty());
}
