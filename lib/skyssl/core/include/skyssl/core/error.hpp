#pragma once
// The skyssl exception hierarchy. Every message names the thing at fault (file, dataset,
// config key, value) so an app can print it as one line and stop every rank.
#include <stdexcept>
#include <string>

namespace skyssl {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A config file, preset or command-line override is malformed or out of range.
struct config_error : error {
  using error::error;
};
// An archive file is missing, unreadable, or has the wrong layout, shape or dtype.
struct archive_error : error {
  using error::error;
};
// Values that are present but unusable (NaN pixels, negative sizes, ...).
struct data_error : error {
  using error::error;
};
// A collective failed, or ranks disagree (weights or queue diverged).
struct dist_error : error {
  using error::error;
};
// A checkpoint is missing, truncated or does not match the run.
struct checkpoint_error : error {
  using error::error;
};

}  // namespace skyssl
