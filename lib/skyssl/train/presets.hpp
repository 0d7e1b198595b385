#pragma once
// Built-in configuration presets: the files in configs/ compiled into the binary, so
// `--preset decals` works without the source tree.
#include <string>
#include <vector>

namespace skyssl::train {

std::vector<std::string> preset_names();
// The TOML text of a preset; config_error naming the preset and the known ones if absent.
const std::string& preset_text(const std::string& name);

}  // namespace skyssl::train
