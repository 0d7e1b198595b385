#include "skyssl/dist/mpi_communicator.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/device.hpp"
#include "skyssl/dist/detail/peer_probe.hpp"

namespace skyssl::dist {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    case torch::kInt8:
      return MPI_INT8_T;
    default:
      throw dist_error(fmt::format("MPI communicator: unsupported dtype {}",
                                   std::string(c10::toString(t.scalar_type()))));
  }
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw dist_error(fmt::format("{} failed: {}", what, std::string(msg, len)));
  }
}

void require_cpu_contiguous(const torch::Tensor& t, const char* what) {
  if (!t.defined()) throw dist_error(fmt::format("{}: undefined tensor", what));
  if (!t.device().is_cpu())
    throw dist_error(
        fmt::format("{}: the MPI backend takes CPU tensors (got {})", what, t.device().str()));
  if (!t.is_contiguous()) throw dist_error(fmt::format("{}: tensor must be contiguous", what));
}

int checked_count(const torch::Tensor& t, const char* what) {
  // MPI-3 counts are int; bigger tensors are split by the callers that can (all_reduce).
  if (t.numel() > INT_MAX)
    throw dist_error(
        fmt::format("{}: {} elements exceed the MPI count limit {}", what, t.numel(), INT_MAX));
  return static_cast<int>(t.numel());
}

std::string describe(const torch::Tensor& t) {
  return fmt::format("{} x {}", t.numel(), std::string(c10::toString(t.scalar_type())));
}

// The watchdog: with a deadline, poll MPI_Test instead of blocking in MPI_Wait, so a rank
// whose peer died or stalled outside MPI reports which collective never completed instead of
// hanging until the job's wall-clock limit (or in TCP retries after a network split). With a
// probe, the message also names the ranks (and hosts) that stay silent. Standard MPI-3 only
// (works with Cray MPICH).
void wait_request(MPI_Request& req, double timeout_s, const std::string& what,
                  peer_probe* probe = nullptr) {
  if (timeout_s <= 0) {
    check(MPI_Wait(&req, MPI_STATUS_IGNORE), what.c_str());
    return;
  }
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(timeout_s);
  for (long spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what.c_str());
    if (done) return;
    // Yield after a short spin: on oversubscribed nodes a busy rank starves its peers.
    if (spins > 64) std::this_thread::yield();
    if ((spins & 255) == 0 && clock::now() > deadline) {
      if (!probe)
        throw dist_error(fmt::format(
            "dist watchdog: {} did not complete within dist.timeout_s = {} s on rank {}; "
            "another rank has died, stalled outside the collective, or called a different "
            "collective",
            what, timeout_s, log::rank()));
      const double window = probe_window_s(timeout_s);
      const auto silent = probe->silent_peers(window);
      const int me = log::rank();
      throw dist_error(fmt::format(
          "dist watchdog: {} did not complete within dist.timeout_s = {} s on rank {} ({}); {}",
          what, timeout_s, me, probe->host(me),
          silent.empty()
              ? fmt::format("every other rank answered within {} s: one called a different "
                            "collective or stalled in another one",
                            window)
              : fmt::format("silent peer(s), no answer within {} s: {} (died, stalled outside "
                            "the collective, or cut off by the network)",
                            window, probe->describe(silent))));
    }
  }
}

class mpi_pending final : public pending_op {
 public:
  mpi_pending(MPI_Request req, double timeout_s, std::string what, peer_probe* probe)
      : req_(req), timeout_s_(timeout_s), what_(std::move(what)), probe_(probe) {}
  ~mpi_pending() override {
    // An abandoned request (an exception unwound past it) must still complete before its
    // buffer dies; MPI_Wait here is the least bad choice, and the watchdog bounds it.
    if (req_ != MPI_REQUEST_NULL) {
      try {
        wait_request(req_, timeout_s_, what_);
      } catch (...) {
      }
    }
  }
  bool test() override {
    if (req_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check(MPI_Test(&req_, &done, MPI_STATUS_IGNORE), what_.c_str());
    return done != 0;
  }
  void wait() override {
    if (req_ != MPI_REQUEST_NULL) wait_request(req_, timeout_s_, what_, probe_);
  }

 private:
  MPI_Request req_;
  double timeout_s_;
  std::string what_;
  peer_probe* probe_;
};

class done_op final : public pending_op {
 public:
  bool test() override { return true; }
  void wait() override {}
};

class mpi_communicator final : public communicator {
 public:
  mpi_communicator() {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &world_);
  }
  int ranks_on_node() const override { return dist::ranks_on_node(); }
  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void all_reduce_sum(torch::Tensor& t) override {
    require_cpu_contiguous(t, "all_reduce");
    (void)mpi_type(t);  // reject unsupported dtypes at any world size
    if (world_ == 1 || t.numel() == 0) return;
    // Split past the int count limit; each chunk is one collective, same order on all ranks.
    const std::int64_t n = t.numel();
    const std::int64_t elem = t.element_size();
    for (std::int64_t off = 0; off < n; off += INT_MAX) {
      const int count = static_cast<int>(std::min<std::int64_t>(INT_MAX, n - off));
      void* ptr = static_cast<char*>(t.data_ptr()) + off * elem;
      if (timeout_s_ <= 0) {
        check(MPI_Allreduce(MPI_IN_PLACE, ptr, count, mpi_type(t), MPI_SUM, comm_),
              "MPI_Allreduce");
      } else {
        MPI_Request req;
        check(MPI_Iallreduce(MPI_IN_PLACE, ptr, count, mpi_type(t), MPI_SUM, comm_, &req),
              "MPI_Iallreduce");
        wait_request(req, timeout_s_, "all_reduce_sum (MPI_Iallreduce of " + describe(t) + ")",
                     probe());
      }
    }
  }

  std::unique_ptr<pending_op> start_all_reduce_sum(torch::Tensor& t) override {
    require_cpu_contiguous(t, "start_all_reduce_sum");
    (void)mpi_type(t);
    if (world_ == 1) return std::make_unique<done_op>();
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), checked_count(t, "start_all_reduce_sum"),
                         mpi_type(t), MPI_SUM, comm_, &req),
          "MPI_Iallreduce");
    return std::make_unique<mpi_pending>(
        req, timeout_s_, "start_all_reduce_sum (MPI_Iallreduce of " + describe(t) + ")", probe());
  }

  torch::Tensor all_gather(const torch::Tensor& t_in) override {
    torch::Tensor t = t_in.contiguous();
    require_cpu_contiguous(t, "all_gather");
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (shape.empty()) shape.push_back(1);
    shape[0] *= world_;
    torch::Tensor out = torch::empty(shape, t.options());
    const int count = checked_count(t, "all_gather");
    if (timeout_s_ <= 0) {
      check(MPI_Allgather(t.data_ptr(), count, mpi_type(t), out.data_ptr(), count, mpi_type(t),
                          comm_),
            "MPI_Allgather");
    } else {
      MPI_Request req;
      check(MPI_Iallgather(t.data_ptr(), count, mpi_type(t), out.data_ptr(), count, mpi_type(t),
                           comm_, &req),
            "MPI_Iallgather");
      wait_request(req, timeout_s_, "all_gather (MPI_Iallgather of " + describe(t) + ")", probe());
    }
    return out;
  }

  void broadcast(torch::Tensor& t, int root) override {
    require_cpu_contiguous(t, "broadcast");
    if (root < 0 || root >= world_)
      throw dist_error(fmt::format("broadcast: root {} outside world of {}", root, world_));
    const int count = checked_count(t, "broadcast");
    if (timeout_s_ <= 0) {
      check(MPI_Bcast(t.data_ptr(), count, mpi_type(t), root, comm_), "MPI_Bcast");
    } else {
      MPI_Request req;
      check(MPI_Ibcast(t.data_ptr(), count, mpi_type(t), root, comm_, &req), "MPI_Ibcast");
      wait_request(req, timeout_s_, "broadcast (MPI_Ibcast of " + describe(t) + ")", probe());
    }
  }

  void barrier() override {
    if (timeout_s_ <= 0) {
      check(MPI_Barrier(comm_), "MPI_Barrier");
    } else {
      MPI_Request req;
      check(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier");
      wait_request(req, timeout_s_, "barrier (MPI_Ibarrier)", probe());
    }
  }

  torch::Tensor all_to_all(const torch::Tensor& send_in, const std::vector<std::int64_t>& send_rows,
                           const std::vector<std::int64_t>& recv_rows) override {
    torch::Tensor send = send_in.contiguous();
    require_cpu_contiguous(send, "all_to_all");
    if (static_cast<int>(send_rows.size()) != world_ ||
        static_cast<int>(recv_rows.size()) != world_)
      throw dist_error(fmt::format("all_to_all: {} send and {} receive counts for a world of {}",
                                   send_rows.size(), recv_rows.size(), world_));
    std::vector<std::int64_t> shape(send.sizes().begin(), send.sizes().end());
    if (shape.empty()) throw dist_error("all_to_all: a 0-d tensor has no rows");
    const std::int64_t row = send.size(0) > 0 ? send.numel() / send.size(0) : [&] {
      std::int64_t r = 1;
      for (std::size_t d = 1; d < shape.size(); ++d) r *= shape[d];
      return r;
    }();
    std::vector<int> sc(world_), sd(world_), rc(world_), rd(world_);
    std::int64_t so = 0, ro = 0;
    for (int p = 0; p < world_; ++p) {
      const std::int64_t s_el = send_rows[p] * row, r_el = recv_rows[p] * row;
      if (so + s_el > INT_MAX || ro + r_el > INT_MAX)
        throw dist_error(
            fmt::format("all_to_all: {} elements exceed the MPI count limit {} (smaller batches)",
                        std::max(so + s_el, ro + r_el), INT_MAX));
      sc[p] = static_cast<int>(s_el);
      sd[p] = static_cast<int>(so);
      rc[p] = static_cast<int>(r_el);
      rd[p] = static_cast<int>(ro);
      so += s_el;
      ro += r_el;
    }
    if (so != send.numel())
      throw dist_error(fmt::format("all_to_all: send counts add up to {} rows, the tensor has {}",
                                   so / std::max<std::int64_t>(row, 1), send.size(0)));
    shape[0] = ro / std::max<std::int64_t>(row, 1);
    torch::Tensor out = torch::empty(shape, send.options());
    const auto type = mpi_type(send);
    if (timeout_s_ <= 0) {
      check(MPI_Alltoallv(send.data_ptr(), sc.data(), sd.data(), type, out.data_ptr(), rc.data(),
                          rd.data(), type, comm_),
            "MPI_Alltoallv");
    } else {
      MPI_Request req;
      check(MPI_Ialltoallv(send.data_ptr(), sc.data(), sd.data(), type, out.data_ptr(), rc.data(),
                           rd.data(), type, comm_, &req),
            "MPI_Ialltoallv");
      wait_request(req, timeout_s_, "all_to_all (MPI_Ialltoallv of " + describe(send) + ")",
                   probe());
    }
    return out;
  }

  void set_timeout(double seconds) override {
    communicator::set_timeout(seconds);
    // Collective: every rank arms the watchdog with the same value (dist.timeout_s).
    if (seconds > 0 && !probe_ && world_ > 1) probe_ = std::make_unique<peer_probe>();
  }

  [[noreturn]] void abort(const std::string& message, int exit_code) override {
    log::write_error(message);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  peer_probe* probe() { return probe_.get(); }

  MPI_Comm comm_ = MPI_COMM_WORLD;
  int rank_ = 0, world_ = 1;
  std::unique_ptr<peer_probe> probe_;  // made when the watchdog is armed
};

}  // namespace

std::unique_ptr<communicator> make_mpi_communicator() {
  return std::make_unique<mpi_communicator>();
}

}  // namespace skyssl::dist
