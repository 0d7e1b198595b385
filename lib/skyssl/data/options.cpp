#include "skyssl/data/options.hpp"

#include <fmt/format.h>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"

namespace skyssl::data {

data_options data_options_from(const skyssl::config& cfg, const std::string& section) {
  data_options o;
  const std::string p = section + ".";
  if (cfg.has(p + "path")) {
    try {
      o.archive.paths = {cfg.get_string(p + "path", "")};
    } catch (const config_error&) {
      o.archive.paths = cfg.get_strings(p + "path", {});
    }
  }
  o.archive.images = cfg.get_string(p + "images", "images");
  // Field names: whatever keys are present under data.fields.
  const std::string fields = p + "fields.";
  for (const auto& [k, v] : cfg.values()) {
    if (k.rfind(fields, 0) != 0) continue;
    const std::string key = k.substr(fields.size());
    o.archive.fields[key] = cfg.get_string(k, "");
    if (o.archive.fields[key].empty())
      throw config_error("config key '" + k + "' must name a dataset");
  }
  o.archive.bands = cfg.get_strings(p + "bands", {});
  o.archive.pixel_scale = cfg.get_double(p + "pixel_scale", 0.0);
  if (o.archive.pixel_scale < 0) check_positive(p + "pixel_scale", o.archive.pixel_scale);
  o.archive.survey = cfg.get_string(p + "survey", "");
  if (!o.archive.survey.empty() && o.archive.survey != "decals" && o.archive.survey != "sdss")
    throw config_error("config key '" + p + "survey' must be 'decals' or 'sdss', got '" +
                       o.archive.survey + "'");
  o.reader.prefetch = static_cast<int>(cfg.get_int(p + "prefetch", 2));
  check_range(p + "prefetch", o.reader.prefetch, 1, 64);
  o.reader.read_threads = static_cast<int>(cfg.get_int(p + "read_threads", 2));
  check_range(p + "read_threads", o.reader.read_threads, 1, 64);
  o.reader.nonfinite =
      parse_nonfinite_policy(p + "nonfinite", cfg.get_string(p + "nonfinite", "error"));
  o.archive.direct_reads = cfg.get_bool(p + "direct_reads", true);
  o.cache.mode = cfg.get_string(p + "cache", o.cache.mode);
  if (o.cache.mode != "none" && o.cache.mode != "memory")
    throw config_error(
        fmt::format("{}cache must be \"none\" or \"memory\", got \"{}\"", p, o.cache.mode));
  o.cache.limit_gb = cfg.get_double(p + "cache_limit_gb", o.cache.limit_gb);
  if (o.cache.limit_gb < 0)
    throw config_error(fmt::format(
        "{}cache_limit_gb must be >= 0 (0: the memory available), got {}", p, o.cache.limit_gb));
  o.archive.allow_external = cfg.get_bool(p + "allow_external", false);
  return o;
}

nonfinite_policy parse_nonfinite_policy(const std::string& key, const std::string& value) {
  if (value == "error") return nonfinite_policy::error;
  if (value == "zero") return nonfinite_policy::zero;
  if (value == "skip") return nonfinite_policy::skip;
  throw config_error("config key '" + key + "' must be 'error', 'zero' or 'skip', got '" + value +
                     "'");
}

const char* to_string(nonfinite_policy p) {
  switch (p) {
    case nonfinite_policy::error:
      return "error";
    case nonfinite_policy::zero:
      return "zero";
    case nonfinite_policy::skip:
      return "skip";
  }
  return "error";
}

}  // namespace skyssl::data
