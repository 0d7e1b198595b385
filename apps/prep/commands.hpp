#pragma once
// skyssl-prep subcommands. Each registers itself on the CLI and returns the function to run.
#include <CLI/CLI.hpp>

#include <functional>

namespace skyssl::prep {

using command = std::function<void()>;

command add_synth(CLI::App& app);
command add_inspect(CLI::App& app);
command add_from_fits(CLI::App& app);
command add_gallery(CLI::App& app);
command add_scan(CLI::App& app);

}  // namespace skyssl::prep
