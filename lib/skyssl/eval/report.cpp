#include "skyssl/eval/report.hpp"

#include <fmt/format.h>

#include <fstream>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/core/durable_file.hpp"

namespace skyssl::eval {

void evaluation_report::add_probes(const std::string& encoder, const nlohmann::json& tasks) {
  for (const auto& [task, metrics] : tasks.items()) j_[task][encoder] = metrics;
}

void evaluation_report::add_retrieval(const std::string& encoder, double top1, std::int64_t count) {
  j_["self_retrieval"][encoder] = {
      {"top1", top1}, {"chance", 1.0 / static_cast<double>(count)}, {"count", count}};
}

std::string evaluation_report::table() const {
  std::vector<std::string> encoders;
  for (const char* task : {"morphology", "photo_z", "self_retrieval"})
    if (j_.contains(task))
      for (const auto& [e, v] : j_[task].items())
        if (std::find(encoders.begin(), encoders.end(), e) == encoders.end()) encoders.push_back(e);
  // Preferred order first, then anything else.
  std::vector<std::string> order;
  for (const char* e : {"ssl", "random_init", "pixels", "supervised", "trivial"})
    if (std::find(encoders.begin(), encoders.end(), e) != encoders.end()) order.push_back(e);
  for (const auto& e : encoders)
    if (std::find(order.begin(), order.end(), e) == order.end()) order.push_back(e);

  auto cell = [&](const char* task, const std::string& e, const char* metric,
                  const char* fmtspec) -> std::string {
    if (!j_.contains(task) || !j_[task].contains(e) || !j_[task][e].contains(metric) ||
        j_[task][e][metric].is_null())
      return "-";
    return fmt::format(fmt::runtime(fmtspec), j_[task][e][metric].get<double>());
  };
  std::string out =
      fmt::format("{:<12} {:>10} {:>10} {:>11} {:>11} {:>9} {:>12}\n", "encoder", "morph lin",
                  "morph kNN", "pz kNN sMAD", "pz head sMAD", "pz out.15", "retr. top1");
  for (const auto& e : order) {
    std::string retr = cell("self_retrieval", e, "top1", "{:.3f}");
    if (retr != "-") {
      const double ratio = j_["self_retrieval"][e]["top1"].get<double>() /
                           j_["self_retrieval"][e]["chance"].get<double>();
      retr = fmt::format("{} ({:.0f}x)", retr, ratio);
    }
    out += fmt::format("{:<12} {:>10} {:>10} {:>11} {:>11} {:>9} {:>12}\n", e,
                       cell("morphology", e, "accuracy", "{:.3f}"),
                       cell("morphology", e, "knn_accuracy", "{:.3f}"),
                       cell("photo_z", e, "sigma_mad", "{:.4f}"),
                       cell("photo_z", e, "head_sigma_mad", "{:.4f}"),
                       cell("photo_z", e, "outlier_frac_0.15", "{:.3f}"), retr);
  }
  return out;
}

void evaluation_report::write(const std::filesystem::path& file) const {
  replace_file(file, j_.dump(2) + "\n");
}

}  // namespace skyssl::eval
