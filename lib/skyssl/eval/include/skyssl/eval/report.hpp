#pragma once
// The evaluation report: eval.json shaped {task: {encoder: {metric: value}}} (tasks
// morphology, photo_z, self_retrieval; encoders ssl, random_init, pixels, supervised and the
// image-free trivial predictor; docs/evaluation.md has the exact shape) plus "meta", and the
// console table printed from it.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace skyssl::eval {

class evaluation_report {
 public:
  // tasks = {"morphology": {...}, "photo_z": {...}} of one encoder (probe_encoder's output).
  void add_probes(const std::string& encoder, const nlohmann::json& tasks);
  void add_retrieval(const std::string& encoder, double top1, std::int64_t count);
  nlohmann::json& meta() { return j_["meta"]; }
  const nlohmann::json& json() const { return j_; }
  nlohmann::json& json_mut() { return j_; }
  // One row per encoder, one column per headline metric.
  std::string table() const;
  void write(const std::filesystem::path& file) const;

 private:
  nlohmann::json j_ = nlohmann::json::object();
};

}  // namespace skyssl::eval
