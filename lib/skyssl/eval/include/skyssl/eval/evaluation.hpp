#pragma once
// skyssl-eval's work as one call: the SSL encoder's frozen embeddings (an embedding file, or a
// run directory embedded first into RUN/embeddings.h5), the baselines on the same splits
// (random-init encoder of the same shape, raw pixels, the trivial predictors, and the same
// architecture trained from scratch on the morphology labels), the probes of
// probes.hpp, self-retrieval under augmentation, and the report (eval.json, points.json).
#include <cstdint>
#include <string>

#include "skyssl/eval/probes.hpp"
#include "skyssl/eval/report.hpp"
#include "skyssl/eval/supervised_baseline.hpp"
#include "skyssl/eval/task_labels.hpp"

namespace skyssl {
class config;
}

namespace skyssl::eval {

// What the caller calls the options and the commands that mend a mismatch, for the messages:
// a tool passes its flags ("--run-dir", ...). The defaults name the members.
struct evaluation_names {
  std::string run_dir = "run_dir", embeddings = "embeddings", features = "features";
  std::string class_field = "class_field", z_field = "z_field";
  std::string embed_run;      // embeds the run directory that follows it ("" = no advice)
  std::string embed_archive;  // embeds another archive ("" = no advice)
};

struct evaluation_options {
  std::string run_dir;     // a skyssl-train run ("" when only an embedding file is given)
  std::string embeddings;  // embedding file ("" = RUN/embeddings.h5, embedded first if needed)
  std::string features = "backbone";  // or "projection"
  std::string out_dir;                // "" = RUN/eval, else next to the embedding file
  label_request class_field{"morphology", false}, z_field{"z_spec", false};
  probe_config probes;
  bool random_init = true, pixels = true, retrieval = true;
  supervised_options supervised;  // eval.supervised_*; epochs 0 = no supervised baseline
  std::int64_t retrieval_count = 1024;
  int pixel_components = 256;
  std::int64_t chunk = 256;
  std::int64_t plot_points = 4096;  // galaxies per encoder in points.json (PCA scatter)
  evaluation_names names;
};

// cfg: the run's config with the tool's --preset/--config/--set over it (run_config), or those
// alone without a run. Writes out_dir/eval.json and out_dir/points.json.
evaluation_report run_evaluation(const config& cfg, const evaluation_options& options);

}  // namespace skyssl::eval
