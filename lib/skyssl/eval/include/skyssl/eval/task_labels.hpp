#pragma once
// The labels of the downstream tasks, read from an archive's fields: a class field
// (morphology: integer classes 0..C-1; negative or NaN = unlabelled) and a redshift field
// (photo-z: finite z >= 0; anything else = unlabelled). Canonical names and aliases resolve as
// in docs/archive-format.md (z_spec also finds specz_redshift).
#include <cstdint>
#include <string>
#include <vector>

#include "skyssl/data/archive.hpp"

namespace skyssl::eval {

struct task_labels {
  std::string class_field, z_field;  // dataset names in the archive ("" = task not run)
  std::vector<int> classes;          // per row, -1 = unlabelled
  int n_classes = 0;
  std::vector<double> z;                         // per row, NaN = unlabelled
  std::vector<std::int64_t> class_rows, z_rows;  // labelled rows, ascending
};

struct label_request {
  std::string name;       // canonical field name
  bool required = false;  // asked for by the user: absence is an error, not a skipped task
};

// Rows [0, n) of the archive. data_error naming the field and the archive when a required
// field is missing, a class label is not an integer, or the labelled rows hold one class only.
// `flag` is the option that names the field in the tool, for the messages.
task_labels read_task_labels(const data::archive& archive, std::int64_t n,
                             const label_request& class_field, const label_request& z_field,
                             const std::string& class_flag, const std::string& z_flag);

}  // namespace skyssl::eval
