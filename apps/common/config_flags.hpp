#pragma once
// The config flags every tool takes: --preset, --config, --set (repeatable), resolved in that
// order by resolve_config. An error message telling the user to "set data.x" can then
// rely on --set existing in whichever tool printed it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "skyssl/core/presets.hpp"

namespace skyssl::apps {

inline void add_config_flags(CLI::App& app, config_sources& s) {
  app.add_option("--preset", s.preset,
                 "built-in config: " + fmt::format("{}", fmt::join(preset_names(), ", ")));
  app.add_option("--config", s.file, "TOML config file (merged over --preset)");
  app.add_option("--set", s.overrides, "override one key, section.key=value (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace skyssl::apps
