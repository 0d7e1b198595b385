#pragma once
// The flags that choose the similarity index a tool builds when none is saved yet
// (skyssl-search, skyssl-serve): --kind, --nlist, --pq-m, --refine.
#include <CLI/CLI.hpp>

#include <string>

#include "skyssl/search/similarity_index.hpp"

namespace skyssl::apps {

// --kind is kept as text in `kind` (the caller parses it with parse_index_kind, naming the flag);
// the others go straight into `o`.
inline void add_index_build_flags(CLI::App& app, std::string& kind, search::index_options& o) {
  app.add_option("--kind", kind, "index to build: flat (exact), ivf-flat, ivf-sq8, ivf-pq, hnsw");
  app.add_option("--nlist", o.nlist, "IVF lists (0: about 2 sqrt(rows))");
  app.add_option("--pq-m", o.pq_m, "ivf-pq bytes per row (0: dim / 4)");
  app.add_option("--refine", o.refine, "ivf-pq re-ranking copy: sq8, fp16, flat or none");
}

}  // namespace skyssl::apps
