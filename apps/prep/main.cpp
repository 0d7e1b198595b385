// skyssl-prep: build, check and look at survey archives.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <map>

#include "apps/common/tool_main.hpp"
#include "apps/prep/commands.hpp"
#include "skyssl/core/allocator.hpp"
#include "skyssl/core/stop_signals.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/dist/runtime.hpp"
#include "skyssl/dist/make_communicator.hpp"

namespace skyssl::prep {

data::data_options data_from_flags(const config_sources& sources,
                                   const std::vector<std::string>& paths, const std::string& tool) {
  config cfg = resolve_config(sources);
  auto d = data::data_options_from(cfg, "data");
  cfg.reject_unread({"data"});
  if (!paths.empty()) d.archive.paths = paths;
  if (d.archive.paths.empty())
    throw config_error(fmt::format("{}: no archive: give its path, or set data.path", tool));
  return d;
}

}  // namespace skyssl::prep

int main(int argc, char** argv) {
  skyssl::keep_freed_memory();  // batch buffers of synth, scan and gallery
  skyssl::dist::runtime rt(&argc, &argv);
  // synth and from-fits write --out under a temporary name: a stop leaves no archive behind.
  skyssl::stop_cleanly_on_signals(
      "skyssl-prep: stopped by a signal; --out was not written (an existing file of that name "
      "is unchanged): run the command again");
  CLI::App app{"skyssl-prep: synthesise, import, inspect and preview galaxy survey archives"};
  app.require_subcommand(1);
  std::map<CLI::App*, skyssl::prep::command> commands;
  auto add = [&](const char* name, const char* help, auto adder) {
    auto* sub = app.add_subcommand(name, help);
    commands[sub] = adder(*sub);
  };
  add("synth", "write a synthetic survey archive (parallel under mpirun)", skyssl::prep::add_synth);
  add("inspect", "report shape, dtype, bands, fields, NaN/Inf counts and ranges",
      skyssl::prep::add_inspect);
  add("from-fits", "build an archive from a directory of FITS cutouts and a catalogue CSV",
      skyssl::prep::add_from_fits);
  add("scan", "read an archive through the sharded reader (parallel) and report images/s",
      skyssl::prep::add_scan);
  add("gallery", "PNG of galaxies and their augmented views", skyssl::prep::add_gallery);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return rt.rank() == 0 ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 2);
  }
  std::unique_ptr<skyssl::dist::communicator> comm;
  return skyssl::apps::guarded_main("skyssl-prep", comm, [&] {
    for (auto* sub : app.get_subcommands()) commands.at(sub)();
    return 0;
  });
}
