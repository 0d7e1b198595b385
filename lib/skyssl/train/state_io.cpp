#include "skyssl/train/state_io.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <cstdlib>
#include <sstream>
#include <type_traits>

#include "skyssl/core/config.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/model/weights.hpp"

namespace skyssl::train {
namespace {

using optim_state_map = std::decay_t<decltype(std::declval<torch::optim::SGD&>().state())>;

// The key LibTorch's optimisers use for a parameter's state: a string of the TensorImpl
// address in LibTorch 1.x, the address itself in 2.x.
// (A template, so that only the branch for this LibTorch's key type is compiled.)
template <class Map = optim_state_map>
typename Map::key_type state_key(const torch::Tensor& p) {
  using key = typename Map::key_type;
  if constexpr (std::is_same_v<key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<key>(p.unsafeGetTensorImpl());
  }
}

bool is_running_stat(const std::string& name) {
  auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends("running_mean") || ends("running_var");
}

// The running statistics of an encoder, in a fixed order.
model::named_tensors running_stats(model::resnet& m) {
  model::named_tensors out;
  for (const auto& b : m->named_buffers())
    if (is_running_stat(b.key())) out.emplace_back(b.key(), b.value());
  return out;
}

torch::Tensor host_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
}

const torch::Tensor& need(const model::tensor_map& m, const std::string& name,
                          const std::string& source) {
  const auto it = m.find(name);
  if (it == m.end()) throw checkpoint_error(fmt::format("'{}' has no tensor '{}'", source, name));
  return it->second;
}

bool numbers_equal(const std::string& a, const std::string& b) {
  char *ea = nullptr, *eb = nullptr;
  const double x = std::strtod(a.c_str(), &ea), y = std::strtod(b.c_str(), &eb);
  return ea != a.c_str() && *ea == 0 && eb != b.c_str() && *eb == 0 && x == y;
}

}  // namespace

checkpoint_data snapshot_state(train_state& s, dist::communicator& comm) {
  torch::NoGradGuard no_grad;
  checkpoint_data c;
  c.global_step = s.global_step;
  c.epoch = s.epoch;
  c.step = s.step;
  c.world = comm.world();
  c.seed = s.opts.seed;
  c.bn_group = s.moco->bn_group();
  c.schedule = s.schedule;
  const auto device = s.moco->encoder_q()->parameters()[0].device();
  const bool root = comm.rank() == 0;
  // Collectives first, identical on every rank.
  std::vector<std::pair<std::string, torch::Tensor>> gathered;
  for (auto [tag, enc] : {std::pair{"encoder_q", &s.moco->encoder_q()},
                          std::pair{"encoder_k", &s.moco->encoder_k()}}) {
    const auto stats = running_stats(*enc);
    if (stats.empty()) continue;
    std::vector<torch::Tensor> flat;
    for (const auto& [n, t] : stats) flat.push_back(t.reshape({-1}));
    auto all = comm.all_gather(torch::cat(flat)).view({comm.world(), -1});
    std::int64_t off = 0;
    for (const auto& [n, t] : stats) {
      auto shape = t.sizes().vec();
      shape.insert(shape.begin(), comm.world());
      gathered.emplace_back(fmt::format("rank_bn.{}.{}", tag, n),
                            all.narrow(1, off, t.numel()).reshape(shape));
      off += t.numel();
    }
  }
  auto sums =
      torch::tensor({s.interval.loss, s.interval.acc1, static_cast<double>(s.interval.steps)},
                    torch::kFloat64)
          .to(device);
  auto all_sums = comm.all_gather(sums).view({comm.world(), 3});
  if (!root) return c;

  c.config_toml = s.cfg.to_toml();
  auto& t = c.tensors;
  for (const auto& [n, v] : model::state_tensors(*s.moco->encoder_q(), "encoder_q."))
    t[n] = host_copy(v);
  for (const auto& [n, v] : model::state_tensors(*s.moco->encoder_k(), "encoder_k."))
    t[n] = host_copy(v);
  auto& state = s.optimizer->state();
  for (const auto& p : s.moco->encoder_q()->named_parameters()) {
    const auto it = state.find(state_key(p.value()));
    if (it == state.end()) continue;
    const auto& buf = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
    if (buf.defined()) t["momentum." + p.key()] = host_copy(buf);
  }
  t["queue.keys"] = host_copy(s.moco->queue().keys());
  t["queue.ptr"] = torch::tensor({s.moco->queue().ptr()}, torch::kInt64);
  for (auto& [n, v] : gathered) t[n] = host_copy(v);
  t["interval.sums"] = host_copy(all_sums);
  if (s.moco->scaler().enabled()) t["scaler.state"] = s.moco->scaler().state();
  return c;
}

void restore_state(train_state& s, const checkpoint_data& c, dist::communicator& comm,
                   const std::string& source) {
  torch::NoGradGuard no_grad;
  const auto& t = c.tensors;
  const auto device = s.moco->encoder_q()->parameters()[0].device();
  model::load_state(*s.moco->encoder_q(), t, "encoder_q.", source);
  model::load_state(*s.moco->encoder_k(), t, "encoder_k.", source);
  // Each rank's own BN statistics when the world is the same; else their mean over the ranks
  // that wrote them (what the exported weights hold).
  const bool same_world = c.world == comm.world();
  for (auto [tag, enc] : {std::pair{"encoder_q", &s.moco->encoder_q()},
                          std::pair{"encoder_k", &s.moco->encoder_k()}}) {
    if (c.world == 1) break;
    for (auto& [n, dst] : running_stats(*enc)) {
      const auto& all = need(t, fmt::format("rank_bn.{}.{}", tag, n), source);
      if (all.size(0) != c.world || all[0].sizes() != dst.sizes())
        throw checkpoint_error(
            fmt::format("'{}': rank_bn.{}.{} has the wrong shape", source, tag, n));
      auto d = dst;
      d.copy_(same_world ? all[comm.rank()] : all.mean(0));
    }
  }
  auto& state = s.optimizer->state();
  state.clear();
  for (const auto& p : s.moco->encoder_q()->named_parameters()) {
    const auto it = t.find("momentum." + p.key());
    if (it == t.end()) continue;
    if (it->second.sizes() != p.value().sizes())
      throw checkpoint_error(
          fmt::format("'{}': momentum.{} does not match the parameter's shape", source, p.key()));
    auto st = std::make_unique<torch::optim::SGDParamState>();
    st->momentum_buffer(it->second.to(device, /*non_blocking=*/false, /*copy=*/true));
    state[state_key(p.value())] = std::move(st);
  }
  const auto& keys = need(t, "queue.keys", source);
  auto& q = s.moco->queue();
  if (keys.sizes() != q.keys().sizes())
    throw checkpoint_error(fmt::format("'{}': queue.keys is {}x{}, this run's queue {}x{}", source,
                                       keys.size(0), keys.size(1), q.keys().size(0),
                                       q.keys().size(1)));
  // The write pointer indexes the queue's rows on every enqueue: one integer in [0, K).
  const auto& ptr = need(t, "queue.ptr", source);
  if (ptr.numel() != 1 || ptr.is_floating_point() || ptr.is_complex() ||
      ptr.scalar_type() == torch::kBool)
    throw checkpoint_error(fmt::format("'{}': queue.ptr must be one integer", source));
  const auto p = ptr.item<std::int64_t>();
  if (p < 0 || p >= q.keys().size(0))
    throw checkpoint_error(fmt::format("'{}': queue.ptr {} is outside the queue's {} rows", source,
                                       p, q.keys().size(0)));
  q.keys().copy_(keys);
  q.set_ptr(p);
  s.global_step = c.global_step;
  s.epoch = c.epoch;
  s.step = c.step;
  const auto& sums = need(t, "interval.sums", source);
  if (sums.dim() != 2 || sums.size(0) != c.world || sums.size(1) != 3)
    throw checkpoint_error(fmt::format("'{}': interval.sums has the wrong shape", source));
  if (!torch::isfinite(sums).all().item<bool>() || (sums.select(1, 2) < 0).any().item<bool>())
    throw checkpoint_error(fmt::format("'{}': interval.sums holds values out of range", source));
  const auto mine = same_world ? sums[comm.rank()] : sums.mean(0);
  s.interval.loss = mine[0].item<double>();
  s.interval.acc1 = mine[1].item<double>();
  s.interval.steps = static_cast<std::int64_t>(std::llround(mine[2].item<double>()));
  // fp16: the scale and its streak, so the resumed run skips and grows where the first would.
  if (s.moco->scaler().enabled())
    s.moco->scaler().load_state(need(t, "scaler.state", source), source);
}

const std::vector<std::string>& resumable_keys() {
  static const std::vector<std::string> keys = {
      "train.epochs", "train.max_steps", "train.log_every", "train.threads", "train.prefetch",
      "checkpoint.", "train_eval.", "eval.", "dist.", "data.path", "data.prefetch", "moco.bn_group",
      "data.read_threads", "data.direct_reads", "data.cache",
      "data.cache_limit_gb",  // data.cache gives the same bits either way
      "data.allow_external",  // what may be followed, not what is read
      // The checkpoint's weights replace the init file's; checkpoints from before the key
      // existed stay resumable.
      "train.init_weights",
      // cuDNN autotuning changes which algorithm runs, not what is computed.
      "train.cudnn_benchmark"};
  return keys;
}

std::vector<std::string> incompatible_keys(const skyssl::config& now,
                                           const std::string& checkpoint_toml) {
  const auto before = config::from_string(checkpoint_toml, "checkpoint config").values();
  const auto after = now.values();
  auto resumable = [](const std::string& k) {
    for (const auto& r : resumable_keys())
      if (r.back() == '.' ? k.rfind(r, 0) == 0 : k == r) return true;
    return false;
  };
  std::vector<std::string> out;
  for (const auto& [k, v] : before) {
    if (resumable(k)) continue;
    const auto it = after.find(k);
    if (it == after.end())
      out.push_back(fmt::format("{}: checkpoint {}, now unset", k, v));
    else if (it->second != v && !numbers_equal(it->second, v))
      out.push_back(fmt::format("{}: checkpoint {}, now {}", k, v, it->second));
  }
  for (const auto& [k, v] : after)
    if (!resumable(k) && !before.count(k))
      out.push_back(fmt::format("{}: checkpoint unset, now {}", k, v));
  return out;
}

}  // namespace skyssl::train
