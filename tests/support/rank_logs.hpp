#pragma once
// Every rank's output kept, rank-prefixed, for MPI test programs. Each rank's stdout and stderr
// go to its own file (line-buffered, so a rank killed by MPI_Abort loses at most a partial
// line); dump() prints all of them, "[rank r/N] " before every line, to the stream the test
// program started with. The folder is <test-tmp>/mpi-logs/<program>-np<N>-<pid of rank 0>.
#include <filesystem>
#include <string>

#include "skyssl/dist/communicator.hpp"

namespace skyssl::test {

class rank_logs {
 public:
  // Collective: rank 0's pid names the folder. Redirects this rank's stdout and stderr.
  rank_logs(dist::communicator& comm, const std::string& program);
  // Prints every rank's log (in rank order) to the original stderr.
  void dump() const;
  // Prints this rank's own log to the original stdout (the quiet path: rank 0 on success).
  void replay_own() const;
  // Points stdout and stderr back at the original streams.
  void restore() const;
  // True for the first rank to call it (an O_EXCL file): that rank dumps, the others wait.
  bool claim_report() const;
  const std::filesystem::path& folder() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int rank_, world_;
  int saved_out_ = -1, saved_err_ = -1;
};

}  // namespace skyssl::test
