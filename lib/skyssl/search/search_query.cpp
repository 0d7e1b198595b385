#include "skyssl/search/search_query.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "skyssl/core/error.hpp"
#include "skyssl/embed/cutout.hpp"
#include "skyssl/embed/cutout_embedder.hpp"

namespace skyssl::search {
namespace {

void add_row(query_set& q, const embed::embedding_reader& e, const std::string& space, std::int64_t row,
             const std::string& label) {
  const int d = e.dim(space);
  const auto at = q.vectors.size();
  q.vectors.resize(at + d);
  e.read(space, row, 1, q.vectors.data() + at);
  q.rows.push_back(row);
  q.labels.push_back(label);
}

}  // namespace

query_set resolve_queries(const query_request& r, const embed::embedding_reader& e,
                          const std::string& space) {
  query_set q;
  e.dim(space);  // data_error naming the spaces there are when `space` is absent
  for (const auto row : r.rows) {
    if (row < 0 || row >= e.rows())
      throw data_error(
          fmt::format("--row {}: '{}' has rows 0 to {}", row, e.path().string(), e.rows() - 1));
    add_row(q, e, space, row, fmt::format("row {}", row));
  }
  for (const auto& id : r.ids) {
    const auto eq = id.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == id.size())
      throw config_error(fmt::format("--id '{}' must be FIELD=VALUE, e.g. objid=1234", id));
    const std::string field = id.substr(0, eq), value = id.substr(eq + 1);
    const auto hits = e.find(field, value);
    if (hits.empty())
      throw data_error(
          fmt::format("--id {}: no row of '{}' has {} = {}", id, e.path().string(), field, value));
    for (const auto row : hits) add_row(q, e, space, row, fmt::format("{} (row {})", id, row));
  }
  if (!r.cutout.empty()) {
    if (r.run_dir.empty())
      throw config_error(
          "--cutout needs --run-dir: the run whose encoder wrote the embedding file embeds it");
    embed::cutout_embedder embedder(r.run_dir, e);
    const auto images = embed::read_cutout(r.cutout);
    const auto v = embedder.embed(images, space, fmt::format("cutout '{}'", r.cutout.string()));
    q.vectors.insert(q.vectors.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    for (std::int64_t i = 0; i < v.size(0); ++i) {
      q.rows.push_back(-1);
      q.labels.push_back(fmt::format("{}[{}]", r.cutout.filename().string(), i));
    }
    q.cutouts = images;
  }
  if (q.size() == 0) throw config_error("nothing to search for: give --row, --id or --cutout");
  return q;
}

nlohmann::json search_report(const query_set& q, const neighbours& nn, const embed::embedding_reader& e,
                             const std::string& index_description, const std::string& space) {
  nlohmann::json out = {{"embeddings", e.path().string()},
                        {"index", index_description},
                        {"space", space},
                        {"k", nn.k},
                        {"queries", nlohmann::json::array()}};
  for (std::int64_t i = 0; i < q.size(); ++i) {
    nlohmann::json list = nlohmann::json::array();
    for (std::int64_t j = 0; j < nn.k; ++j) {
      const auto row = nn.ids[i * nn.k + j];
      if (row < 0) continue;  // an approximate index found fewer than k
      nlohmann::json n = {{"row", row}, {"score", nn.scores[i * nn.k + j]}};
      for (const auto& f : e.fields()) {
        const auto text = e.field_text(f, row);
        const auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        n[f] = v.is_discarded() ? nlohmann::json(text) : v;  // nan, inf stay text
      }
      list.push_back(std::move(n));
    }
    out["queries"].push_back(
        {{"query", q.labels[i]}, {"row", q.rows[i]}, {"neighbours", std::move(list)}});
  }
  return out;
}

}  // namespace skyssl::search
