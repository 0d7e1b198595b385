// core/durable_file: an output appears whole or not at all. Until commit() an existing file of
// the name is untouched; temporaries are unique and hidden beside it and go when the output is
// abandoned; a failing write names the file and the system's reason; an output that is an
// input is refused.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/error.hpp"
#include "tests/support/test_paths.hpp"

using namespace skyssl;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
  auto d = test::tmp_dir("durable_file") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("an existing file is replaced only by a complete new one") {
  const auto dir = fresh("replace");
  const auto out = dir / "eval.json";
  { std::ofstream(out) << "old"; }
  {
    atomic_output a(out);
    CHECK(a.temp_path().parent_path() == dir);
    CHECK(a.temp_path().filename().string().rfind(".eval.json.", 0) == 0);
    a.write("new ");
    a.write(std::string("contents"));
    CHECK(text_of(out) == "old");  // nothing of the new one shows before commit
    atomic_output b(out);          // a second writer of the same name: its own temporary
    CHECK(b.temp_path() != a.temp_path());
    CHECK(names_in(dir).size() == 3);
    a.commit();
  }
  CHECK(text_of(out) == "new contents");
  CHECK(names_in(dir) == std::vector<std::string>{"eval.json"});  // b's temporary went too
  struct stat st {};
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("an abandoned output leaves the old file and no temporary") {
  const auto dir = fresh("abandon");
  const auto out = dir / "index.faiss";
  { std::ofstream(out) << "old index"; }
  try {
    atomic_output a(out);
    // A library writing by name, then an error before commit.
    { std::ofstream(a.temp_path()) << "half an index"; }
    throw error("stopped");
  } catch (const error&) {
  }
  CHECK(text_of(out) == "old index");
  CHECK(names_in(dir) == std::vector<std::string>{"index.faiss"});
  // Written by name and committed: the library's bytes become the file.
  {
    atomic_output a(out);
    { std::ofstream(a.temp_path()) << "new index"; }
    a.commit();
  }
  CHECK(text_of(out) == "new index");
}

TEST_CASE("a full disk is one error naming the file; the old file stays") {
  const auto dir = fresh("full");
  const auto out = dir / "points.json";
  { std::ofstream(out) << "old"; }
  setenv("SKYSSL_TEST_WRITE_FAIL", "enospc", 1);
  std::string what;
  try {
    replace_file(out, "new");
  } catch (const error& e) {
    what = e.what();
  }
  unsetenv("SKYSSL_TEST_WRITE_FAIL");
  CHECK(what.find(out.string()) != std::string::npos);
  CHECK(what.find("No space left on device") != std::string::npos);
  CHECK(text_of(out) == "old");
  CHECK(names_in(dir) == std::vector<std::string>{"points.json"});
  // A directory that cannot hold the temporary: the error names the output.
  CHECK_THROWS_WITH_AS(atomic_output(dir / "no" / "such" / "dir.json"),
                       doctest::Contains("dir.json"), error);
}

TEST_CASE("an output that is one of the command's inputs is refused, naming the flag") {
  const auto dir = fresh("inputs");
  const auto in = dir / "catalog.csv";
  { std::ofstream(in) << "id\n1\n"; }
  fs::create_hard_link(in, dir / "same.csv");
  CHECK_THROWS_WITH_AS(refuse_output_over_input(in, {dir / "absent.csv", in}, "--out"),
                       doctest::Contains(("--out '" + in.string() + "' is an input").c_str()),
                       config_error);
  CHECK_THROWS_AS(refuse_output_over_input(dir / "same.csv", {in}, "--out"), config_error);
  CHECK_THROWS_AS(refuse_output_over_input(dir / "." / "catalog.csv", {in}, "--json"),
                  config_error);
  CHECK_NOTHROW(refuse_output_over_input(dir / "new.h5", {in}, "--out"));
  CHECK_NOTHROW(refuse_output_over_input(in, {}, "--out"));
}
