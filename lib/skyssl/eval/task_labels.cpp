#include "skyssl/eval/task_labels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "skyssl/core/error.hpp"

namespace skyssl::eval {

namespace {

std::string archive_name(const data::archive& a) {
  return a.files().size() == 1
             ? a.files().front().path
             : fmt::format("{} (+{} files)", a.files().front().path, a.files().size() - 1);
}

std::string field_list(const data::archive& a) {
  std::string out;
  for (const auto& d : a.files().front().datasets)
    if (d.shape.size() == 1) out += (out.empty() ? "" : ", ") + d.name;
  return out.empty() ? "none" : out;
}

}  // namespace

task_labels read_task_labels(const data::archive& a, std::int64_t n, const label_request& cls,
                             const label_request& zr, const std::string& class_flag,
                             const std::string& z_flag) {
  task_labels t;
  auto resolve = [&](const label_request& r, const std::string& flag) -> std::string {
    if (r.name.empty()) return "";
    std::string ds;
    try {
      ds = a.field_dataset(r.name);
    } catch (const error&) {
      ds.clear();
    }
    if (ds.empty() && r.required)
      throw data_error(
          fmt::format("label field '{}' is not in archive '{}' (1-D fields: {}); "
                      "name another with {}",
                      r.name, archive_name(a), field_list(a), flag));
    return ds;
  };
  t.class_field = resolve(cls, class_flag);
  t.z_field = resolve(zr, z_flag);
  std::vector<double> col(static_cast<std::size_t>(n));
  if (!t.class_field.empty()) {
    a.read_column(t.class_field, 0, n, col.data());
    t.classes.assign(static_cast<std::size_t>(n), -1);
    std::set<int> seen;
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = col[i];
      if (std::isnan(v) || v < 0) continue;
      if (v != std::floor(v) || v > 1e6)
        throw data_error(
            fmt::format("label field '{}' of archive '{}': row {} holds {}, not a "
                        "class number (0, 1, 2, ...); name a class field with {}",
                        t.class_field, archive_name(a), i, v, class_flag));
      t.classes[i] = static_cast<int>(v);
      seen.insert(t.classes[i]);
      t.class_rows.push_back(i);
    }
    if (seen.size() < 2)
      throw data_error(fmt::format(
          "label field '{}' of archive '{}' has {} in its {} labelled rows: a probe needs at least "
          "two classes (name another field with {})",
          t.class_field, archive_name(a),
          seen.empty() ? std::string("no class") : fmt::format("only class {}", *seen.begin()),
          t.class_rows.size(), class_flag));
    t.n_classes = *seen.rbegin() + 1;
  }
  if (!t.z_field.empty()) {
    a.read_column(t.z_field, 0, n, col.data());
    t.z.assign(static_cast<std::size_t>(n), std::nan(""));
    for (std::int64_t i = 0; i < n; ++i)
      if (std::isfinite(col[i]) && col[i] >= 0) {
        t.z[i] = col[i];
        t.z_rows.push_back(i);
      }
    if (t.z_rows.size() < 2)
      throw data_error(
          fmt::format("redshift field '{}' of archive '{}' has {} usable rows (finite, "
                      ">= 0); name another with {}",
                      t.z_field, archive_name(a), t.z_rows.size(), z_flag));
  }
  return t;
}

}  // namespace skyssl::eval
