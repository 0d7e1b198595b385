#include "skyssl/core/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sstream>
#include <toml++/toml.h>

#include "skyssl/core/error.hpp"

namespace skyssl {
namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  parts.push_back(cur);
  for (const auto& p : parts)
    if (p.empty()) throw config_error(fmt::format("config key '{}' has an empty component", key));
  return parts;
}

const toml::node* find_node(const toml::table& t, const std::string& key) {
  return t.at_path(key).node();
}

toml::table& ensure_parent(toml::table& root, const std::vector<std::string>& parts,
                           const std::string& key) {
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* next = t->get(parts[i]);
    if (!next) {
      t->insert(parts[i], toml::table{});
      next = t->get(parts[i]);
    }
    if (!next->is_table())
      throw config_error(
          fmt::format("config key '{}': '{}' is a value, not a section", key, parts[i]));
    t = next->as_table();
  }
  return *t;
}

void merge_tables(toml::table& into, const toml::table& from) {
  for (const auto& [k, v] : from) {
    auto* existing = into.get(k);
    if (existing && existing->is_table() && v.is_table()) {
      merge_tables(*existing->as_table(), *v.as_table());
    } else {
      into.insert_or_assign(k, v);
    }
  }
}

void collect_keys(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [k, v] : t) {
    std::string full = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (v.is_table())
      collect_keys(*v.as_table(), full, out);
    else
      out.push_back(full);
  }
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    default:
      return "other";
  }
}

}  // namespace

config::config() : doc_(std::make_unique<toml::table>()), source_("<defaults>") {}
config::~config() = default;
config::config(const config& o)
    : doc_(std::make_unique<toml::table>(*o.doc_)), source_(o.source_), read_(o.read_) {}
config& config::operator=(const config& o) {
  doc_ = std::make_unique<toml::table>(*o.doc_);
  source_ = o.source_;
  read_ = o.read_;
  return *this;
}

config config::from_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw config_error(fmt::format("config file '{}' does not exist", path.string()));
  config c;
  try {
    *c.doc_ = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw config_error(fmt::format("config file '{}': {} (line {}, column {})", path.string(),
                                   e.description(), e.source().begin.line,
                                   e.source().begin.column));
  }
  c.source_ = path.string();
  return c;
}

config config::from_string(const std::string& text, const std::string& source_name) {
  config c;
  try {
    *c.doc_ = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw config_error(fmt::format("config '{}': {} (line {})", source_name, e.description(),
                                   e.source().begin.line));
  }
  c.source_ = source_name;
  return c;
}

void config::merge_over(const config& other) { merge_tables(*doc_, *other.doc_); }

void config::apply_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw config_error(
        fmt::format("override '{}' is not of the form section.key=value", assignment));
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  while (!key.empty() && key.back() == ' ') key.pop_back();
  auto parts = split_key(key);
  toml::table& parent = ensure_parent(*doc_, parts, key);
  toml::table parsed;
  bool ok = true;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    ok = false;
  }
  const toml::node* existing = parent.get(parts.back());
  if (existing && existing->is_table())
    throw config_error(
        fmt::format("override '{}': '{}' is a section, not a value", assignment, key));
  if (ok) {
    parent.insert_or_assign(parts.back(), *parsed.get("v"));
  } else {
    parent.insert_or_assign(parts.back(), value);
  }
}

bool config::has(const std::string& key) const { return find_node(*doc_, key) != nullptr; }

template <class T>
T config::get_impl(const std::string& key, const T* fallback) const {
  const toml::node* n = find_node(*doc_, key);
  if (!n) {
    if (!fallback)
      throw config_error(fmt::format("config key '{}' is required ({})", key, source_));
    // Record the fallback so the resolved config shows what was used.
    auto parts = split_key(key);
    toml::table& parent = ensure_parent(*doc_, parts, key);
    if constexpr (std::is_same_v<T, std::vector<double>> ||
                  std::is_same_v<T, std::vector<std::string>>) {
      toml::array a;
      for (const auto& x : *fallback) a.push_back(x);
      parent.insert_or_assign(parts.back(), a);
    } else {
      parent.insert_or_assign(parts.back(), *fallback);
    }
    read_.insert(key);
    return *fallback;
  }
  read_.insert(key);
  auto wrong = [&](const char* want) {
    return config_error(fmt::format("config key '{}' must be {} but is {} ({})", key, want,
                                    type_name(*n), source_));
  };
  if constexpr (std::is_same_v<T, std::int64_t>) {
    if (auto v = n->value_exact<std::int64_t>()) return *v;
    throw wrong("an integer");
  } else if constexpr (std::is_same_v<T, double>) {
    if (auto v = n->value_exact<double>()) return *v;
    if (auto v = n->value_exact<std::int64_t>()) return static_cast<double>(*v);
    throw wrong("a number");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n->value_exact<bool>()) return *v;
    throw wrong("true or false");
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n->value_exact<std::string>()) return *v;
    throw wrong("a string");
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    const auto* arr = n->as_array();
    if (!arr) throw wrong("an array of numbers");
    std::vector<double> out;
    for (const auto& e : *arr) {
      if (auto v = e.value_exact<double>())
        out.push_back(*v);
      else if (auto w = e.value_exact<std::int64_t>())
        out.push_back(static_cast<double>(*w));
      else
        throw wrong("an array of numbers");
    }
    return out;
  } else {
    const auto* arr = n->as_array();
    if (!arr) throw wrong("an array of strings");
    std::vector<std::string> out;
    for (const auto& e : *arr) {
      if (auto v = e.value_exact<std::string>())
        out.push_back(*v);
      else
        throw wrong("an array of strings");
    }
    return out;
  }
}

std::int64_t config::get_int(const std::string& k, std::int64_t f) const { return get_impl(k, &f); }
double config::get_double(const std::string& k, double f) const { return get_impl(k, &f); }
bool config::get_bool(const std::string& k, bool f) const { return get_impl(k, &f); }
std::string config::get_string(const std::string& k, const std::string& f) const {
  return get_impl(k, &f);
}
std::vector<double> config::get_doubles(const std::string& k, const std::vector<double>& f) const {
  return get_impl(k, &f);
}
std::vector<std::string> config::get_strings(const std::string& k,
                                             const std::vector<std::string>& f) const {
  return get_impl(k, &f);
}
std::vector<std::string> config::unread_keys() const {
  std::vector<std::string> all, out;
  collect_keys(*doc_, "", all);
  for (const auto& k : all)
    if (!read_.count(k)) out.push_back(k);
  return out;
}

void config::reject_unread(const std::vector<std::string>& sections) const {
  std::vector<std::string> bad;
  for (const auto& k : unread_keys()) {
    if (sections.empty()) {
      bad.push_back(k);
      continue;
    }
    for (const auto& s : sections)
      if (k.rfind(s + ".", 0) == 0) bad.push_back(k);
  }
  if (!bad.empty())
    throw config_error(
        fmt::format("unknown config key(s) {} in {} (typo?)", fmt::join(bad, ", "), source_));
}

std::string config::to_toml() const {
  std::ostringstream os;
  os << *doc_ << "\n";
  return os.str();
}

std::map<std::string, std::string> config::values() const {
  std::vector<std::string> keys;
  collect_keys(*doc_, "", keys);
  std::map<std::string, std::string> out;
  for (const auto& k : keys) {
    std::ostringstream os;
    find_node(*doc_, k)->visit([&os](const auto& v) { os << v; });
    out[k] = os.str();
  }
  return out;
}

void check_positive(const std::string& key, double value) {
  if (!(value > 0))
    throw config_error(fmt::format("config key '{}' must be > 0, got {}", key, value));
}
void check_range(const std::string& key, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi))
    throw config_error(
        fmt::format("config key '{}' must be in [{}, {}], got {}", key, lo, hi, value));
}

}  // namespace skyssl
