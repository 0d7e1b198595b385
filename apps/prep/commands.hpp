#pragma once
// skyssl-prep subcommands. Each registers itself on the CLI and returns the function to run.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "skyssl/data/options.hpp"
#include "skyssl/core/presets.hpp"

namespace skyssl::prep {

// The [data] section of --preset/--config/--set, with the archive paths given on the command
// line (if any) taking the place of data.path; unknown data.* keys are refused.
data::data_options data_from_flags(const config_sources& sources,
                                   const std::vector<std::string>& paths, const std::string& tool);
inline data::archive_options archive_from_flags(const config_sources& sources,
                                                const std::vector<std::string>& paths,
                                                const std::string& tool) {
  return data_from_flags(sources, paths, tool).archive;
}

using command = std::function<void()>;

command add_synth(CLI::App& app);
command add_inspect(CLI::App& app);
command add_from_fits(CLI::App& app);
command add_gallery(CLI::App& app);
command add_scan(CLI::App& app);

}  // namespace skyssl::prep
