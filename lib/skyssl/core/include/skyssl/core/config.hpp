#pragma once
// One TOML document plus command-line overrides ("section.key=value"), read through typed
// getters that name the key at fault. Every key that is read is recorded, so an app can reject
// keys nobody read (typos) and write the resolved config next to its outputs.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace skyssl {

class config {
 public:
  config();
  ~config();
  config(const config&);
  config& operator=(const config&);

  static config from_file(const std::filesystem::path& path);
  static config from_string(const std::string& text, const std::string& source_name);

  // Later values win: merge a file over a preset, or a preset under a file.
  void merge_over(const config& other);
  // "a.b.c=value": value is parsed as a TOML value (1, 0.5, true, "s", [1,2]); anything that
  // does not parse is taken as a bare string. Creates missing tables.
  void apply_override(const std::string& assignment);

  bool has(const std::string& key) const;
  std::int64_t get_int(const std::string& key, std::int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<double> get_doubles(const std::string& key,
                                  const std::vector<double>& fallback) const;
  std::vector<std::string> get_strings(const std::string& key,
                                       const std::vector<std::string>& fallback) const;

  // Keys present in the document that no getter has asked for.
  std::vector<std::string> unread_keys() const;
  // Throws config_error listing unread keys under the given top-level sections (all if empty).
  void reject_unread(const std::vector<std::string>& sections = {}) const;
  // The document as TOML, with fallbacks that were used filled in (the resolved config).
  std::string to_toml() const;
  // Every value as "section.key" -> its TOML text (e.g. "0.24", "\"decals\"", "[1, 2]").
  std::map<std::string, std::string> values() const;

 private:
  std::unique_ptr<toml::table> doc_;
  std::string source_;
  mutable std::set<std::string> read_;
  template <class T>
  T get_impl(const std::string& key, const T* fallback) const;
};

// Range checks with messages that name the key and the offending value.
void check_positive(const std::string& key, double value);
void check_range(const std::string& key, double value, double lo, double hi);

}  // namespace skyssl
