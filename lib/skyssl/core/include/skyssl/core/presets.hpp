#pragma once
// Built-in configuration presets: the files in configs/ compiled into the binary, so
// `--preset decals` works without the source tree.
#include <string>
#include <vector>

#include "skyssl/core/config.hpp"

namespace skyssl {

// Where a tool's config comes from, lowest precedence first: a built-in preset, a TOML file,
// then "section.key=value" overrides in order. Every tool takes the same three flags
// (apps/common/config_flags.hpp), so one description of an archive works everywhere.
struct config_sources {
  std::string preset, file;
  std::vector<std::string> overrides;
};
config resolve_config(const config_sources& sources);

std::vector<std::string> preset_names();
// The TOML text of a preset; config_error naming the preset and the known ones if absent.
const std::string& preset_text(const std::string& name);

}  // namespace skyssl
