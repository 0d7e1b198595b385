#include "skyssl/dist/detail/peer_probe.hpp"

#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

namespace skyssl::dist {

struct peer_probe::mpi_state {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace {
constexpr int host_chars = 64;
// Tags above this are the probe's own; each round uses the next one, so an answer left over
// from an earlier round is never taken for a fresh sign of life.
constexpr int first_tag = 7000;
}  // namespace

peer_probe::peer_probe() : mpi_(std::make_unique<mpi_state>()) {
  MPI_Comm_dup(MPI_COMM_WORLD, &mpi_->comm);
  // A send to a peer behind a cut link may fail: that is an answer (silence), not an abort.
  MPI_Comm_set_errhandler(mpi_->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(mpi_->comm, &rank_);
  MPI_Comm_size(mpi_->comm, &world_);
  std::array<char, host_chars> mine{};
  if (gethostname(mine.data(), mine.size() - 1) != 0) mine[0] = '?';
  std::vector<char> all(static_cast<std::size_t>(host_chars) * world_);
  MPI_Allgather(mine.data(), host_chars, MPI_CHAR, all.data(), host_chars, MPI_CHAR, mpi_->comm);
  for (int r = 0; r < world_; ++r) {
    const char* s = all.data() + static_cast<std::size_t>(r) * host_chars;
    hosts_.emplace_back(s, strnlen(s, host_chars));
  }
  answers_.assign(static_cast<std::size_t>(world_), 0);
}

peer_probe::~peer_probe() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && mpi_->comm != MPI_COMM_NULL) MPI_Comm_free(&mpi_->comm);
}

std::vector<int> peer_probe::silent_peers(double window_s) {
  const int tag = first_tag + (rounds_++ % 1000);
  std::vector<MPI_Request> recvs;
  std::vector<int> from;
  for (int p = 0; p < world_; ++p) {
    if (p == rank_) continue;
    MPI_Request send;
    // Never waited for: a peer behind a cut link would keep it pending forever.
    MPI_Isend(&token_, 1, MPI_CHAR, p, tag, mpi_->comm, &send);
    MPI_Request_free(&send);
    recvs.emplace_back();
    MPI_Irecv(&answers_[p], 1, MPI_CHAR, p, tag, mpi_->comm, &recvs.back());
    from.push_back(p);
  }
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(window_s);
  std::vector<bool> heard(recvs.size(), false);
  std::size_t pending = recvs.size();
  while (pending > 0 && clock::now() < deadline) {
    for (std::size_t i = 0; i < recvs.size(); ++i) {
      if (heard[i]) continue;
      int done = 0;
      MPI_Test(&recvs[i], &done, MPI_STATUS_IGNORE);
      if (done) {
        heard[i] = true;
        --pending;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<int> silent;
  for (std::size_t i = 0; i < recvs.size(); ++i) {
    if (heard[i]) continue;
    silent.push_back(from[i]);
    // The caller is about to abort; a late answer lands in answers_, which outlives the request.
    MPI_Cancel(&recvs[i]);
    MPI_Request_free(&recvs[i]);
  }
  return silent;
}

std::string peer_probe::describe(const std::vector<int>& ranks) const {
  if (ranks.empty()) return "none";
  std::string out;
  for (const int r : ranks) {
    if (!out.empty()) out += ", ";
    out += fmt::format("rank {} on {}", r, host(r));
  }
  return out;
}

double probe_window_s(double timeout_s) { return std::clamp(timeout_s / 2, 0.5, 5.0); }

}  // namespace skyssl::dist
