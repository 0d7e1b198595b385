// Checkpoint directory names from others (issue #19; also a seed of tests/fuzz/checkpoint): a
// "ckpt-<digits>" name whose number does not fit int64 overflowed the step parser (undefined
// behaviour); it is now not a checkpoint name at all.
#include "tests/support/torch_doctest.hpp"

#include <filesystem>
#include <string>

#include "skyssl/train/checkpoint.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;

TEST_CASE("checkpoint names past int64 are ignored, not overflowed") {
  const auto root = skyssl::test::tmp_dir("checkpoint_names");
  fs::remove_all(root);
  fs::create_directories(root);
  fs::create_directory(root / ("ckpt-" + std::string(30, '9')));
  fs::create_directory(root / "ckpt-9223372036854775808");  // int64 max + 1
  fs::create_directory(root / "ckpt-9223372036854775807");  // int64 max: a valid name
  const auto l = skyssl::train::list_checkpoints(root);
  REQUIRE(l.size() == 1);
  CHECK(l[0].filename() == "ckpt-9223372036854775807");
  const auto c = skyssl::train::choose_checkpoint(root);
  CHECK(c.any);
  CHECK(!c.chosen);  // no manifest: rejected, not chosen
}
