#include "skyssl/search/search_index.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::search {

std::string choose_space(const embed::embedding_reader& e, const std::string& requested) {
  if (!requested.empty()) {
    e.dim(requested);  // throws naming the spaces the file has
    return requested;
  }
  const auto& s = e.spaces();
  return std::find(s.begin(), s.end(), "backbone") != s.end() ? "backbone" : s.front();
}

search_index search_index::build(const embed::embedding_reader& e, const std::string& space,
                                 const index_build_options& o, const progress& report) {
  const auto t0 = std::chrono::steady_clock::now();
  const int dim = e.dim(space);
  const std::int64_t n = e.rows();
  if (n == 0) throw data_error(fmt::format("'{}' has no rows to index", e.path().string()));
  e.require_complete();  // an interrupted skyssl-embed leaves rows that were never written
  similarity_index idx(dim, o.index, n);
  std::vector<float> buf;
  if (idx.needs_training()) {
    const std::int64_t want = o.train_rows > 0 ? o.train_rows : idx.training_rows_wanted();
    const std::int64_t m = std::min(n, want);
    const std::int64_t stride = std::max<std::int64_t>(1, n / m);
    buf.resize(static_cast<std::size_t>(m) * dim);
    e.read_strided(space, stride, m, buf.data());
    idx.train(buf.data(), m);
  }
  for (std::int64_t s = 0; s < n; s += o.slab_rows) {
    const std::int64_t m = std::min(o.slab_rows, n - s);
    buf.resize(static_cast<std::size_t>(m) * dim);
    e.read(space, s, m, buf.data());
    idx.add(buf.data(), m);
    if (report) report(s + m, n);
  }
  search_index out(std::move(idx), space, e.path());
  out.build_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

namespace {
std::filesystem::path sidecar(const std::filesystem::path& p) { return p.string() + ".json"; }
}  // namespace

void search_index::save(const std::filesystem::path& path) const {
  index_.save(path);
  const nlohmann::json j = {{"embeddings", std::filesystem::absolute(source_).string()},
                            {"space", space_},
                            {"rows", index_.size()},
                            {"dim", index_.dim()},
                            {"factory", index_.description()},
                            {"build_seconds", build_seconds_}};
  replace_file(sidecar(path), j.dump(2) + "\n");
}

search_index search_index::load(const std::filesystem::path& path, const embed::embedding_reader& e,
                                const std::string& space) {
  auto idx = similarity_index::load(path);
  const int dim = e.dim(space);
  // The sidecar skyssl writes beside every index: what the index says of itself must match.
  const auto side = sidecar(path);
  std::ifstream f(side);
  if (!f)
    throw data_error(fmt::format("index '{}' has no sidecar '{}' (rebuild with --rebuild)",
                                 path.string(), side.string()));
  std::string built_space;
  std::int64_t side_rows = 0, side_dim = 0;
  try {
    const auto j = nlohmann::json::parse(f);
    built_space = j.at("space").get<std::string>();
    side_rows = j.at("rows").get<std::int64_t>();
    side_dim = j.at("dim").get<std::int64_t>();
  } catch (const nlohmann::json::exception&) {
    throw data_error(fmt::format(
        "'{}' is not the JSON sidecar of an index (rebuild with --rebuild)", side.string()));
  }
  if (side_rows != idx.size() || side_dim != idx.dim())
    throw data_error(fmt::format(
        "index '{}' holds {} rows of {} dimensions but its sidecar '{}' says {} of {} (rebuild "
        "with --rebuild)",
        path.string(), idx.size(), idx.dim(), side.string(), side_rows, side_dim));
  if (idx.dim() != dim)
    throw data_error(fmt::format(
        "index '{}' holds {}-d vectors but /{} of '{}' is {}-d: an index of another embedding "
        "(rebuild with --rebuild)",
        path.string(), idx.dim(), space, e.path().string(), dim));
  if (built_space != space)
    throw data_error(
        fmt::format("index '{}' was built on /{}, not /{} (pass --space {} or "
                    "--rebuild)",
                    path.string(), built_space, space, built_space));
  if (idx.size() != e.rows())
    throw data_error(fmt::format(
        "index '{}' holds {} rows but '{}' has {}: built from another file (rebuild with "
        "--rebuild)",
        path.string(), idx.size(), e.path().string(), e.rows()));
  return search_index(std::move(idx), space, e.path());
}

opened_index open_index(const std::filesystem::path& path, const embed::embedding_reader& e,
                        const std::string& space, const index_build_options& o, bool rebuild,
                        const search_index::progress& report) {
  if (!path.empty() && std::filesystem::exists(path) && !rebuild) {
    auto index = search_index::load(path, e, space);
    log::info("loaded {} ({}, {} rows of /{})", path.string(), index.index().description(),
              index.rows(), space);
    return {std::move(index), false};
  }
  log::info("building a {} index over {} x {} /{} of {}",
            factory_string(o.index, e.dim(space), e.rows()), e.rows(), e.dim(space), space,
            e.path().string());
  return {search_index::build(e, space, o, report), true};
}

}  // namespace skyssl::search
