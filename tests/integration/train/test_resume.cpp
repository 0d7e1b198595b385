// Long campaigns, end to end with skyssl-train: stop by signal and resume, kill -9 and resume,
// resume on another rank count, and the failure paths (a kill during a checkpoint write,
// damaged checkpoints, an incompatible config, a full disk). Uninterrupted runs of the same
// config are the reference: weights, momentum and queue (the final checkpoint's tensors, byte
// for byte) and every step's loss must be identical (same rank count).
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_paths.hpp"
#include "tests/support/run_command.hpp"

namespace fs = std::filesystem;
using skyssl::test::tmp_dir;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

const fs::path& survey() {
  static const fs::path p = [] {
    auto d = tmp_dir("resume");
    auto f = d / "survey.h5";
    fs::remove(f);
    const auto cmd =
        fmt::format("{} synth --out {} --count 512 --size 32 --seed 4 > {} 2>&1",
                    skyssl::test::program("skyssl-prep"), f.string(), (d / "synth.log").string());
    REQUIRE(skyssl::test::run_command(cmd).status == 0);
    return f;
  }();
  return p;
}

// 512 galaxies / 16 = 32 steps per epoch; a narrow ResNet-18 at 24 px: tens of ms a step.
std::string train_cmd(const fs::path& run, const std::string& extra, int ranks = 1) {
  const std::string launch =
      ranks > 1 ? fmt::format("{} -n {} --oversubscribe ", skyssl::test::mpiexec(), ranks) : "";
  return fmt::format(
      "exec {}{} --preset example --run-dir {} --set data.path='\"{}\"' --set "
      "augment.input_size=32 "
      "--set augment.crop=24 --set augment.jitter_max=2 --set model.width=8 "
      "--set train.global_batch=16 --set moco.K=64 --set moco.bn_group=8 --set train.log_every=1 "
      "--set train_eval.enabled=false --set train.threads=1 --set train.epochs=3 "
      "--set checkpoint.every_minutes=0 --set checkpoint.keep=3 {} >> {} 2>&1",
      launch, skyssl::test::program("skyssl-train"), run.string(), survey().string(), extra,
      run.string() + ".log");
}

struct child {
  pid_t pid = -1;
};

child spawn(const std::string& cmd) {
  MESSAGE(cmd);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return {pid};
}

// The exit code, or 128 + signal.
int wait_code(const child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run(const std::string& cmd) { return wait_code(spawn(cmd)); }

bool wait_for(const std::function<bool()>& cond, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

struct metrics {
  std::vector<nlohmann::json> steps, events;
};
metrics read_metrics(const fs::path& run) {
  metrics m;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line being written
    (j.contains("event") ? m.events : m.steps).push_back(j);
  }
  return m;
}

std::int64_t last_step(const fs::path& run) {
  const auto m = read_metrics(run);
  return m.steps.empty() ? 0 : m.steps.back()["step"].get<std::int64_t>();
}

// pids of the skyssl-train ranks writing into `run`.
std::vector<pid_t> rank_pids(const fs::path& run) {
  std::vector<pid_t> out;
  const auto cmd = fmt::format("pgrep -f '^{} .*--run-dir {} '",
                               skyssl::test::program("skyssl-train"), run.string());
  std::istringstream pids(skyssl::test::run_command(cmd).output);
  for (pid_t pid = 0; pids >> pid;) out.push_back(pid);
  return out;
}

fs::path fresh(const std::string& name) {
  auto d = tmp_dir("resume") / name;
  fs::remove_all(d);
  fs::remove(d.string() + ".log");
  return d;
}

std::string log_of(const fs::path& run) { return read_file(run.string() + ".log"); }

fs::path ckpt(const fs::path& run, std::int64_t step) {
  return run / "checkpoints" / fmt::format("ckpt-{}", step);
}

// Identical training: every step's loss and acc1, and the final state byte for byte.
void check_identical(const fs::path& a, const fs::path& b, std::int64_t steps) {
  const auto ma = read_metrics(a), mb = read_metrics(b);
  REQUIRE(ma.steps.size() == static_cast<std::size_t>(steps));
  REQUIRE(mb.steps.size() == static_cast<std::size_t>(steps));
  for (std::int64_t i = 0; i < steps; ++i) {
    INFO("step " << i + 1);
    CHECK(mb.steps[i]["step"] == ma.steps[i]["step"]);
    CHECK(mb.steps[i]["loss"] == ma.steps[i]["loss"]);
    CHECK(mb.steps[i]["acc1"] == ma.steps[i]["acc1"]);
    CHECK(mb.steps[i]["lr"] == ma.steps[i]["lr"]);
  }
  const auto fa = read_file(ckpt(a, steps) / "state.safetensors");
  CHECK(!fa.empty());
  CHECK_MESSAGE(fa == read_file(ckpt(b, steps) / "state.safetensors"),
                "final weights, momentum, queue differ");
  CHECK(read_file(a / "weights.pt").size() > 0);
  CHECK(fs::exists(b / "weights.pt"));
}

const fs::path& reference(int ranks) {
  static fs::path one, two;
  auto& r = ranks == 1 ? one : two;
  if (r.empty()) {
    r = fresh(fmt::format("reference_np{}", ranks));
    // keep=20: every checkpoint stays, for the tests that branch off one.
    REQUIRE(run(train_cmd(r, "--set checkpoint.every_steps=8 --set checkpoint.keep=20", ranks)) ==
            0);
    REQUIRE(last_step(r) == 96);
  }
  return r;
}

}  // namespace

TEST_CASE("SIGUSR1: checkpoint and exit 85; resumed, identical to an uninterrupted run") {
  const auto& ref = reference(1);
  const auto run_dir = fresh("usr1");
  auto c = spawn(train_cmd(run_dir, "--set checkpoint.every_steps=8"));
  REQUIRE(wait_for([&] { return last_step(run_dir) >= 5; }, 60));
  kill(c.pid, SIGUSR1);
  CHECK(wait_code(c) == 85);
  const auto stopped = read_metrics(run_dir);
  REQUIRE(!stopped.events.empty());
  const auto& stop = stopped.events.back();
  CHECK(stop["event"] == "stop");
  const auto at = stop["step"].get<std::int64_t>();
  MESSAGE("stopped after step " << at);
  CHECK(at < 96);
  CHECK(fs::exists(ckpt(run_dir, at) / "MANIFEST.json"));
  CHECK(!fs::exists(run_dir / "weights.pt"));
  CHECK(run(train_cmd(run_dir, "--set checkpoint.every_steps=8")) == 0);
  const auto m = read_metrics(run_dir);
  bool resumed = false;
  for (const auto& e : m.events) resumed |= e["event"] == "resume" && e["event_step"] == at;
  CHECK(resumed);
  check_identical(ref, run_dir, 96);
  // A finished run started again has nothing to do.
  CHECK(run(train_cmd(run_dir, "--set checkpoint.every_steps=8")) == 0);
  CHECK(log_of(run_dir).find("training already complete") != std::string::npos);
}

TEST_CASE("SIGINT: checkpoint and exit 130") {
  const auto run_dir = fresh("int");
  auto c = spawn(train_cmd(run_dir, ""));
  REQUIRE(wait_for([&] { return last_step(run_dir) >= 3; }, 60));
  kill(c.pid, SIGINT);
  CHECK(wait_code(c) == 130);
  const auto at = read_metrics(run_dir).events.back()["step"].get<std::int64_t>();
  CHECK(fs::exists(ckpt(run_dir, at) / "MANIFEST.json"));
}

TEST_CASE("kill -9 after a checkpoint: resumed from it, identical to an uninterrupted run") {
  const auto& ref = reference(1);
  const auto run_dir = fresh("kill9");
  auto c = spawn(train_cmd(run_dir, "--set checkpoint.every_steps=8"));
  REQUIRE(wait_for([&] { return fs::exists(ckpt(run_dir, 16)); }, 60));
  kill(-c.pid, SIGKILL);
  CHECK(wait_code(c) == 128 + SIGKILL);
  const auto killed_at = last_step(run_dir);
  MESSAGE("killed after step " << killed_at);
  CHECK(run(train_cmd(run_dir, "--set checkpoint.every_steps=8")) == 0);
  // Records of steps trained again were moved aside, so every step appears once.
  if (killed_at > 24) CHECK(fs::exists(run_dir / "metrics.superseded.jsonl"));
  check_identical(ref, run_dir, 96);
}

TEST_CASE("2 ranks: SIGTERM to one rank stops both after the same step; resumed, identical") {
  const auto& ref = reference(2);
  const auto run_dir = fresh("term_np2");
  auto c = spawn(train_cmd(run_dir, "--set checkpoint.every_steps=8", 2));
  REQUIRE(wait_for([&] { return last_step(run_dir) >= 5; }, 60));
  const auto pids = rank_pids(run_dir);
  REQUIRE(pids.size() == 2);
  kill(pids[1], SIGTERM);
  CHECK(wait_code(c) == 85);
  CHECK(run(train_cmd(run_dir, "--set checkpoint.every_steps=8", 2)) == 0);
  check_identical(ref, run_dir, 96);
}

TEST_CASE("a 2-rank checkpoint resumed on 1 rank: same samples, losses within float tolerance") {
  const auto& ref = reference(2);
  const auto run_dir = fresh("np2_to_np1");
  // Ranks sum in another order, and MoCo amplifies rounding: compare a short window only.
  // (The run goes to the end: train.max_steps would change the learning-rate schedule.)
  REQUIRE(run(train_cmd(run_dir, "--resume " + ckpt(ref, 16).string())) == 0);
  const auto a = read_metrics(ref), b = read_metrics(run_dir);
  REQUIRE(b.steps.size() == 96 - 16);
  for (std::size_t i = 0; i < 4; ++i) {
    const double la = a.steps[16 + i]["loss"], lb = b.steps[i]["loss"];
    MESSAGE("step " << 17 + i << ": 2 ranks " << la << ", resumed on 1 rank " << lb);
    CHECK(b.steps[i]["step"] == 17 + i);
    CHECK(std::abs(la - lb) < (i == 0 ? 1e-5 : 1e-3) * std::abs(la));
  }
}

TEST_CASE("kill -9 during a checkpoint write: the previous one is intact, the orphan removed") {
  const auto& ref = reference(1);
  const auto run_dir = fresh("kill_in_write");
  // The test hook pauses the write of ckpt-16 after its data files and before its manifest.
  auto c = spawn("SKYSSL_TEST_CHECKPOINT_PAUSE=16:60 " +
                 train_cmd(run_dir, "--set checkpoint.every_steps=8"));
  const auto root = run_dir / "checkpoints";
  auto tmp_present = [&] {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return false;
    for (const auto& e : fs::directory_iterator(root))
      if (e.path().filename().string().rfind(".tmp-ckpt-16", 0) == 0 &&
          fs::exists(e.path() / "config.toml"))
        return true;
    return false;
  };
  REQUIRE(wait_for(tmp_present, 60));
  kill(-c.pid, SIGKILL);
  wait_code(c);
  CHECK(!fs::exists(ckpt(run_dir, 16)));
  CHECK(fs::exists(ckpt(run_dir, 8) / "MANIFEST.json"));
  CHECK(run(train_cmd(run_dir, "--set checkpoint.every_steps=8")) == 0);
  const auto log = log_of(run_dir);
  CHECK(log.find("left by an interrupted checkpoint write") != std::string::npos);
  CHECK(log.find("resuming from " + ckpt(run_dir, 8).string()) != std::string::npos);
  for (const auto& e : fs::directory_iterator(root))
    CHECK_MESSAGE(e.path().filename().string()[0] != '.', e.path().string());
  check_identical(ref, run_dir, 96);
}

TEST_CASE("damaged checkpoints: fall back with a warning; all damaged: clear error, no change") {
  const auto run_dir = fresh("damaged");
  const std::string short_run = "--set train.max_steps=24 --set checkpoint.every_steps=8";
  REQUIRE(run(train_cmd(run_dir, short_run)) == 0);
  // Newest (24) bit-flipped, the one before (16) truncated: resume falls back to 8.
  {
    std::fstream f(ckpt(run_dir, 24) / "state.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x7f');
  }
  fs::resize_file(ckpt(run_dir, 16) / "state.safetensors",
                  fs::file_size(ckpt(run_dir, 16) / "state.safetensors") / 2);
  const auto extended = "--set train.max_steps=32 --set checkpoint.every_steps=8";
  CHECK(run(train_cmd(run_dir, extended)) == 0);
  auto log = log_of(run_dir);
  CHECK(log.find("ckpt-24: state.safetensors fails its checksum") != std::string::npos);
  CHECK(log.find("ckpt-16: state.safetensors has") != std::string::npos);
  CHECK(log.find("resuming from " + ckpt(run_dir, 8).string()) != std::string::npos);
  CHECK(last_step(run_dir) == 32);

  // Every checkpoint damaged: one clear error, exit 1, nothing written or removed.
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
    fs::remove(e.path() / "MANIFEST.json");
  const auto metrics_before = read_file(run_dir / "metrics.jsonl");
  const auto config_before = read_file(run_dir / "config.toml");
  std::vector<fs::path> before;
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints")) before.push_back(e.path());
  CHECK(run(train_cmd(run_dir, "--set train.max_steps=40")) == 1);
  log = log_of(run_dir);
  CHECK(log.find("every checkpoint in") != std::string::npos);
  CHECK(log.find("nothing was changed") != std::string::npos);
  CHECK(read_file(run_dir / "metrics.jsonl") == metrics_before);
  CHECK(read_file(run_dir / "config.toml") == config_before);
  std::vector<fs::path> after;
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints")) after.push_back(e.path());
  CHECK(after.size() == before.size());
}

TEST_CASE("an incompatible config is refused naming the keys; --resume never refuses a run") {
  const auto run_dir = fresh("incompatible");
  REQUIRE(run(train_cmd(run_dir, "--set train.max_steps=8")) == 0);
  CHECK(run(train_cmd(run_dir, "--set train.max_steps=16 --set moco.K=128 --set model.width=16")) ==
        1);
  auto log = log_of(run_dir);
  CHECK(log.find("belongs to another configuration") != std::string::npos);
  CHECK(log.find("moco.K: checkpoint 64, now 128") != std::string::npos);
  CHECK(log.find("model.width: checkpoint 8, now 16") != std::string::npos);
  CHECK(run(train_cmd(run_dir, "--resume " + (run_dir / "no-such-ckpt").string())) == 1);
  CHECK(log_of(run_dir).find("is not a usable checkpoint: no such checkpoint directory") !=
        std::string::npos);
  CHECK(run(train_cmd(run_dir, "--resume never")) == 1);
  log = log_of(run_dir);
  CHECK(log.find("already holds a run") != std::string::npos);
  CHECK(log.find("--resume auto") != std::string::npos);
}

// Unmounts on every way out of the test, so the next run can remove the directory.
struct scoped_tmpfs {
  fs::path at;
  bool mounted = false;
  scoped_tmpfs(const fs::path& p, const char* size) : at(p) {
    ::umount2(at.c_str(), MNT_DETACH);  // left by an earlier, interrupted run
    fs::remove_all(at);
    fs::create_directories(at);
    mounted = ::mount("tmpfs", at.c_str(), "tmpfs", 0, size) == 0;
  }
  ~scoped_tmpfs() {
    if (mounted) ::umount2(at.c_str(), MNT_DETACH);
  }
};

TEST_CASE("a full disk during a checkpoint write: clear error, the previous checkpoint intact") {
  const auto run_dir = tmp_dir("resume") / "full_disk";
  fs::remove(run_dir.string() + ".log");
  // A real full disk where a small tmpfs can be mounted (root), else the injected failure.
  const scoped_tmpfs disk(run_dir, "size=4m");
  const bool mounted = disk.mounted;
  MESSAGE(std::string(mounted ? "run directory on a 4 MiB tmpfs" : "no tmpfs: injected ENOSPC"));
  // A checkpoint of this model is 2.3 MB and weights.pt 0.8 MB: the first run fits, the
  // second checkpoint does not.
  REQUIRE(run(train_cmd(run_dir, "--set train.max_steps=8")) == 0);
  const std::string env = mounted ? "" : "SKYSSL_TEST_WRITE_FAIL=enospc ";
  CHECK(run(env + train_cmd(run_dir, "--set train.max_steps=16")) == 1);
  const auto log = log_of(run_dir);
  CHECK(log.find("No space left on device") != std::string::npos);
  CHECK(fs::exists(ckpt(run_dir, 8) / "MANIFEST.json"));
  CHECK(!fs::exists(ckpt(run_dir, 16)));
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
    CHECK_MESSAGE(e.path().filename().string()[0] != '.', e.path().string());
}
