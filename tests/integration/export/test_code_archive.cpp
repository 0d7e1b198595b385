// No code runs from a data file (issue 19): a run directory whose weights were replaced by a
// TorchScript archive that prints on load is refused by every tool that loads a run's encoder
// (skyssl-eval, skyssl-embed, skyssl-export, skyssl-search --cutout, train.init_weights), with
// one line naming the file, exit status 1, no output written, and the archive's code never run.
// The first case shows the archive does run its code when LibTorch loads it, so the check can
// fail. ~20 s on 2 cores (a width-8 ResNet trains 2 steps).
#include "tests/support/torch_doctest.hpp"  // torch, then doctest (glog's CHECK)

#include <fmt/format.h>
#include <sys/wait.h>
#include <torch/csrc/jit/runtime/print_handler.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <fstream>
#include <string>

#include "skyssl/core/error.hpp"
#include "skyssl/model/safetensors.hpp"
#include "skyssl/model/weights.hpp"
#include "tests/support/embedding_files.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

constexpr const char* marker = "SKYSSL-CODE-RAN-ON-LOAD";

test::command_result run(const std::string& cmd) { return test::run_command(cmd); }

const fs::path& dir() {
  static const fs::path d = test::tmp_dir("code_archive");
  return d;
}

// What TorchScript's print() wrote in this process (the handler is a plain function pointer).
std::string& printed() {
  static std::string s;
  return s;
}
void capture_print(const std::string& s) { printed() += s; }

// A TorchScript module whose __setstate__, run by the loader, prints the marker.
fs::path code_archive() {
  const auto file = dir() / "prints_on_load.pt";
  torch::jit::Module m("__torch__.PrintsOnLoad");
  m.define(fmt::format(R"(
def __getstate__(self) -> int:
    return 1
def __setstate__(self, state: int) -> None:
    print("{}")
)",
                       marker));
  m.save(file.string());
  return file;
}

const fs::path& survey() {
  static const fs::path s = [] {
    const auto f = dir() / "survey.h5";
    auto r = run(fmt::format("{} synth --out {} --count 64 --size 32 --seed 3",
                             skyssl::test::program("skyssl-prep"), f.string()));
    REQUIRE_MESSAGE(r.status == 0, r.output);
    return f;
  }();
  return s;
}

std::string train_cmd(const fs::path& run_dir, const std::string& extra = "") {
  return fmt::format(
      "{} --preset example --run-dir {} --set data.path={} --set augment.input_size=32 "
      "--set augment.crop=24 --set augment.jitter_max=2 --set model.width=8 --set moco.K=64 "
      "--set moco.bn_group=16 --set train.global_batch=16 --set train.max_steps=2 "
      "--set train_eval.enabled=false {}",
      skyssl::test::program("skyssl-train"), run_dir.string(), survey().string(), extra);
}

// A finished run whose weights (both files) are then replaced by the printing archive.
const fs::path& hostile_run() {
  static const fs::path r = [] {
    const auto run_dir = dir() / "run";
    fs::remove_all(run_dir);
    auto t = run(train_cmd(run_dir));
    REQUIRE_MESSAGE(t.status == 0, t.output);
    REQUIRE(fs::exists(run_dir / "weights.safetensors"));
    REQUIRE(fs::exists(run_dir / "weights.pt"));
    const auto evil = code_archive();
    for (const char* f : {"weights.safetensors", "weights.pt"})
      fs::copy_file(evil, run_dir / f, fs::copy_options::overwrite_existing);
    return run_dir;
  }();
  return r;
}

// Exit status 1 (not a signal), the refusal naming the file, and no trace of the archive's code.
void check_refused(const test::command_result& r, const fs::path& file) {
  INFO(r.output);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.output.find(fmt::format("'{}' is a TorchScript/zip archive, which can run code when "
                                  "loaded",
                                  file.string())) != std::string::npos);
  CHECK(r.output.find(marker) == std::string::npos);
}

}  // namespace

TEST_CASE("the printing archive does print when LibTorch loads it (so the checks can fail)") {
  printed().clear();
  torch::jit::setPrintHandler(&capture_print);
  try {
    torch::jit::load(code_archive().string());
  } catch (const c10::Error&) {
    // The module's state is not restored; the print has already happened.
  }
  torch::jit::setPrintHandler(torch::jit::getDefaultPrintHandler());
  CHECK(printed().find(marker) != std::string::npos);
}

TEST_CASE("no tool runs the code of a run directory's weights") {
  const auto& r = hostile_run();
  const auto weights = r / "weights.safetensors";

  check_refused(run(fmt::format("{} --run-dir {} --no-supervised",
                                skyssl::test::program("skyssl-eval"), r.string())),
                weights);
  CHECK_FALSE(fs::exists(r / "eval" / "eval.json"));
  CHECK_FALSE(fs::exists(r / "embeddings.h5"));

  check_refused(
      run(fmt::format("{} --run-dir {}", skyssl::test::program("skyssl-embed"), r.string())),
      weights);
  CHECK_FALSE(fs::exists(r / "embeddings.h5"));

  const auto out = dir() / "export.safetensors";
  fs::remove(out);
  check_refused(run(fmt::format("{} --run-dir {} --out {}", skyssl::test::program("skyssl-export"),
                                r.string(), out.string())),
                weights);
  CHECK_FALSE(fs::exists(out));

  // skyssl-search --cutout embeds the cutout with the run's encoder.
  test::embedding_file_spec spec;
  spec.source = survey().string();
  spec.spaces["backbone"] = {4, std::vector<float>(4 * 8, 0.5f)};
  const auto emb = dir() / "emb.h5";
  fs::remove(emb);
  test::write_embedding_file(emb, spec);
  const auto json = dir() / "search.json";
  fs::remove(json);
  check_refused(run(fmt::format("{} --embeddings {} --cutout {} --run-dir {} --json {}",
                                skyssl::test::program("skyssl-search"), emb.string(),
                                survey().string(), r.string(), json.string())),
                weights);
  CHECK_FALSE(fs::exists(json));

  // train.init_weights: a new run starting from someone's weights file.
  const auto fresh = dir() / "fresh";
  fs::remove_all(fresh);
  check_refused(run(train_cmd(fresh, "--set train.init_weights=" + (r / "weights.pt").string())),
                r / "weights.pt");
  CHECK_FALSE(fs::exists(fresh / "weights.safetensors"));

  // In this process as well (the library path every tool above takes).
  printed().clear();
  torch::jit::setPrintHandler(&capture_print);
  CHECK_THROWS_AS(model::load_run_encoder(r), skyssl::error);
  torch::jit::setPrintHandler(torch::jit::getDefaultPrintHandler());
  CHECK(printed().empty());
}

TEST_CASE("weights.pt alone is never read: the error names weights.safetensors") {
  const auto old = dir() / "old_run";
  fs::remove_all(old);
  fs::create_directories(old);
  fs::copy_file(hostile_run() / "config.toml", old / "config.toml");
  fs::copy_file(code_archive(), old / "weights.pt");
  const auto out = dir() / "old.safetensors";
  auto r = run(fmt::format("{} --run-dir {} --out {}", skyssl::test::program("skyssl-export"),
                           old.string(), out.string()));
  INFO(r.output);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.output.find(fmt::format("'{}' not found: skyssl tools never read '{}'",
                                  (old / "weights.safetensors").string(),
                                  (old / "weights.pt").string())) != std::string::npos);
  CHECK(r.output.find(marker) == std::string::npos);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("a pickle is refused; a safetensors file whose header length looks like one is not") {
  const auto pickle = dir() / "state_dict.pkl";
  const auto zipped = dir() / "state_dict.pt";
  {
    c10::Dict<std::string, torch::Tensor> d;
    d.insert("conv1.weight", torch::zeros({2, 2}));
    const auto raw = torch::jit::pickle(d);  // a bare pickle (protocol 2)
    std::ofstream(pickle, std::ios::binary).write(raw.data(), raw.size());
    const auto zip = torch::pickle_save(d);  // torch.save's zip container
    std::ofstream(zipped, std::ios::binary).write(zip.data(), zip.size());
  }
  CHECK_THROWS_WITH_AS(model::refuse_code_archive(zipped, "convert it"),
                       doctest::Contains("is a TorchScript/zip archive"), skyssl::error);
  try {
    model::refuse_code_archive(pickle, "convert it");
    FAIL("a pickle was accepted");
  } catch (const skyssl::error& e) {
    CHECK(std::string(e.what()).find(fmt::format("'{}' is a pickle archive", pickle.string())) !=
          std::string::npos);
  }
  // A header of 0x280 bytes starts 0x80 0x02, as a protocol-2 pickle does.
  const auto safe = dir() / "lookalike.safetensors";
  bool made = false;
  for (int pad = 0; pad < 1024 && !made; ++pad) {
    std::string bytes;
    model::write_safetensors(
        {{"t", torch::zeros({3})}}, {{"pad", std::string(pad, 'x')}},
        [&](const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); });
    if (static_cast<unsigned char>(bytes[0]) == 0x80 && bytes[1] == 2) {
      std::ofstream(safe, std::ios::binary).write(bytes.data(), bytes.size());
      made = true;
    }
  }
  REQUIRE(made);
  CHECK_NOTHROW(model::refuse_code_archive(safe, ""));
  CHECK(model::read_safetensors(safe).count("t") == 1);
}
