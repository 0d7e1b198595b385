// Outputs a crash or a stop cannot corrupt (issue 19), with the built skyssl-prep: synth over an
// existing archive stopped by SIGTERM part-way ends by that signal with its hint, the existing
// archive byte-for-byte unchanged and no temporary left; killed by SIGKILL, the existing
// archive is still unchanged and the leftover temporary is refused as unfinished by every
// reader; an output naming an input is refused. ~15 s on 2 cores.
#include <fmt/format.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

#include <doctest/doctest.h>

namespace fs = std::filesystem;
using skyssl::test::run_command;

namespace {

const fs::path& dir() {
  static const fs::path d = [] {
    auto p = skyssl::test::tmp_dir("durable_outputs");
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<fs::path> temporaries_of(const std::string& name) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir()))
    if (e.path().filename().string().rfind("." + name + ".", 0) == 0) out.push_back(e.path());
  return out;
}

std::string prep() { return skyssl::test::program("skyssl-prep"); }

// A small finished archive at `name`, the one a stopped writer must not touch.
fs::path existing(const std::string& name) {
  const auto p = dir() / name;
  auto r = run_command(
      fmt::format("{} synth --out {} --count 64 --size 16 --seed 2", prep(), p.string()));
  REQUIRE_MESSAGE(r.status == 0, r.output);
  return p;
}

// Starts a long synth over `out`, waits until its temporary exists (and `settle` seconds
// more), sends `sig`, and reports what `wait` says (128 + signal when the signal ended it).
skyssl::test::command_result synth_stopped_by(const fs::path& out, const char* sig, double settle) {
  const auto script = fmt::format(
      "{} synth --out {} --count 200000 --size 32 --seed 1 & pid=$!; i=0; "
      "until ls -a {} | grep -q \"^\\.{}\\.\"; do sleep 0.02; i=$((i+1)); "
      "[ $i -gt 3000 ] && break; done; sleep {}; kill -{} $pid; wait $pid; echo \"wait=$?\"",
      prep(), out.string(), dir().string(), out.filename().string(), settle, sig);
  return run_command("sh -c '" + script + "'");
}

}  // namespace

TEST_CASE("synth stopped by SIGTERM: the existing archive is unchanged, no temporary is left") {
  const auto out = existing("term.h5");
  const auto before = bytes_of(out);
  const auto r = synth_stopped_by(out, "TERM", 0.5);
  INFO(r.output);
  CHECK(r.output.find("wait=143") != std::string::npos);  // ended by SIGTERM itself
  CHECK(r.output.find("skyssl-prep: stopped by a signal; --out was not written") !=
        std::string::npos);
  CHECK(bytes_of(out) == before);
  CHECK(temporaries_of("term.h5").empty());
  // The archive still reads.
  auto i = run_command(fmt::format("{} inspect {}", prep(), out.string()));
  CHECK_MESSAGE(i.status == 0, i.output);
}

TEST_CASE("synth killed by SIGKILL: the existing archive is unchanged; the temporary is refused") {
  const auto out = existing("kill.h5");
  const auto before = bytes_of(out);
  const auto r = synth_stopped_by(out, "KILL", 1.0);
  INFO(r.output);
  CHECK(r.output.find("wait=137") != std::string::npos);
  CHECK(bytes_of(out) == before);
  // What a crash leaves: a hidden temporary, marked unfinished; given to a reader under any
  // name it is refused with one line, exit 1.
  const auto left = temporaries_of("kill.h5");
  REQUIRE(left.size() == 1);
  const auto unfinished = dir() / "unfinished.h5";
  fs::rename(left[0], unfinished);
  auto i = run_command(fmt::format("{} inspect {}", prep(), unfinished.string()));
  INFO(i.output);
  REQUIRE(WIFEXITED(i.status));
  CHECK(WEXITSTATUS(i.status) == 1);
  CHECK(i.output.find(fmt::format("archive file '{}' is unfinished", unfinished.string())) !=
        std::string::npos);
}

TEST_CASE("an output that names an input is refused before anything is written") {
  const auto catalog = dir() / "catalog.csv";
  { std::ofstream(catalog) << "id,z\n1,0.1\n"; }
  const auto before = bytes_of(catalog);
  auto r = run_command(fmt::format("{} from-fits --dir {} --catalog {} --out {}", prep(),
                                   dir().string(), catalog.string(), catalog.string()));
  INFO(r.output);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(r.output.find(fmt::format("--out '{}' is an input", catalog.string())) !=
        std::string::npos);
  CHECK(bytes_of(catalog) == before);
}
