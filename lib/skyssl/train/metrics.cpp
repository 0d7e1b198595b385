#include "skyssl/train/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"

namespace skyssl::train {

metrics_writer::metrics_writer(const std::filesystem::path& run_dir, bool enabled)
    : path_(run_dir / "metrics.jsonl"), enabled_(enabled) {
  if (!enabled_) return;
  out_.open(path_, std::ios::app);
  if (!out_) throw error(fmt::format("cannot open metrics file '{}' for writing", path_.string()));
}

void metrics_writer::write(const step_record& r) {
  if (!enabled_) return;
  nlohmann::json j = {{"step", r.step},
                      {"epoch", r.epoch},
                      {"epoch_step", r.epoch_step},
                      {"steps_total", r.steps_total},
                      {"loss", r.loss},
                      {"acc1", r.acc1},
                      {"lr", r.lr},
                      {"images_per_s", r.images_per_s},
                      {"step_s", r.step_s},
                      {"data_wait_s", r.data_wait_s},
                      {"nonfinite_pixels", r.nonfinite_pixels},
                      {"elapsed_s", r.elapsed_s},
                      {"eta_s", r.eta_s}};
  nlohmann::json ph = nlohmann::json::object();
  for (int i = 0; i < phase_count; ++i) ph[phase_name(i)] = r.phases.s[static_cast<std::size_t>(i)];
  j["phases"] = ph;
  out_ << j.dump() << '\n';
  out_.flush();  // a killed job keeps every record written so far
}

void metrics_writer::write_event(const std::string& name, const std::string& json_object) {
  if (!enabled_) return;
  auto j = nlohmann::json::parse(json_object);
  j["event"] = name;
  out_ << j.dump() << '\n';
  out_.flush();
}

void metrics_writer::write_summary(std::int64_t steps, double seconds,
                                   const phase_times& per_step) {
  if (!enabled_) return;
  nlohmann::json ph = nlohmann::json::object();
  for (int i = 0; i < phase_count; ++i) ph[phase_name(i)] = per_step.s[static_cast<std::size_t>(i)];
  nlohmann::json j = {{"event", "summary"},
                      {"steps", steps},
                      {"seconds", seconds},
                      {"step_s", steps > 0 ? seconds / static_cast<double>(steps) : 0.0},
                      {"phases", ph}};
  out_ << j.dump() << '\n';
  out_.flush();
}

std::string progress_line(const step_record& r) {
  const double wait = r.step_s > 0 ? 100.0 * r.data_wait_s / r.step_s : 0.0;
  return fmt::format(
      "step {}/{} epoch {} loss {:.4f} acc1 {:.3f} lr {:.4g} img/s {:.1f} data-wait {:.0f}% "
      "ETA {}",
      r.step, r.steps_total, r.epoch, r.loss, r.acc1, r.lr, r.images_per_s, wait,
      format_duration(r.eta_s));
}

}  // namespace skyssl::train
