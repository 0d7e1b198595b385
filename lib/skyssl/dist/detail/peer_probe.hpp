#pragma once
// Who is silent? When the collective watchdog expires, a rank only knows that a collective did
// not complete. peer_probe asks every other rank, on a communicator of its own, for a one-byte
// sign of life and names those that do not answer, with their host: on a network split these
// are the ranks behind the cut link, on a stall the rank that never entered the collective.
// Private to the MPI backend (it includes no MPI header so that the communicator's header stays
// MPI-free); see docs/distributed.md, "Failure handling".
#include <memory>
#include <string>
#include <vector>

namespace skyssl::dist {

class peer_probe {
 public:
  // Collective over MPI_COMM_WORLD: duplicates it and gathers every rank's host name.
  peer_probe();
  ~peer_probe();
  peer_probe(const peer_probe&) = delete;
  peer_probe& operator=(const peer_probe&) = delete;

  const std::string& host(int rank) const { return hosts_.at(static_cast<std::size_t>(rank)); }
  // Sends a sign of life to every other rank and waits up to window_s for theirs. A healthy
  // peer answers when its own watchdog expires (it is waiting in the same collective), so the
  // window must cover the skew between ranks entering it. Returns the ranks that stayed silent.
  std::vector<int> silent_peers(double window_s);
  // "rank 2 on n2, rank 3 on n2", or "none" when every rank answered.
  std::string describe(const std::vector<int>& ranks) const;

 private:
  struct mpi_state;
  std::unique_ptr<mpi_state> mpi_;
  std::vector<std::string> hosts_;
  // Send and receive buffers of the probes: members, since requests given up on may still
  // complete later.
  char token_ = 1;
  std::vector<char> answers_;
  int rank_ = 0, world_ = 1, rounds_ = 0;
};

// The probe window for a watchdog of timeout_s seconds: half of it, between 0.5 s and 5 s.
double probe_window_s(double timeout_s);

}  // namespace skyssl::dist
