#include "tests/support/rank_logs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>

#include "tests/support/test_paths.hpp"

namespace skyssl::test {
namespace {

void write_all(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    const auto n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

std::filesystem::path log_of(const std::filesystem::path& dir, int r) {
  return dir / ("rank" + std::to_string(r) + ".log");
}

}  // namespace

rank_logs::rank_logs(dist::communicator& comm, const std::string& program)
    : rank_(comm.rank()), world_(comm.world()) {
  auto pid = torch::tensor({static_cast<std::int64_t>(::getpid())});
  comm.broadcast(pid, 0);
  dir_ = tmp_dir("mpi-logs") /
         (std::filesystem::path(program).filename().string() + "-np" + std::to_string(world_) +
          "-" + std::to_string(pid.item<std::int64_t>()));
  std::filesystem::create_directories(dir_);
  std::fflush(stdout);
  std::fflush(stderr);
  saved_out_ = ::dup(STDOUT_FILENO);
  saved_err_ = ::dup(STDERR_FILENO);
  const int fd = ::open(log_of(dir_, rank_).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) return;  // keep the original streams: output then is merely unprefixed
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
}

void rank_logs::dump() const {
  std::fflush(stdout);
  std::fflush(stderr);
  // Let the other ranks finish the lines they are writing (their own failure messages, say):
  // wait until no log has grown for 0.5 s, at most 5 s. Ranks blocked in a collective are
  // silent, so this costs about 0.5 s on a failure and nothing on success.
  std::uintmax_t last = 0;
  for (int polls = 0, quiet = 0; polls < 50 && quiet < 5; ++polls) {
    std::uintmax_t total = 0;
    std::error_code ec;
    for (int r = 0; r < world_; ++r) total += std::filesystem::file_size(log_of(dir_, r), ec);
    quiet = total == last ? quiet + 1 : 0;
    last = total;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int to = saved_err_ >= 0 ? saved_err_ : STDERR_FILENO;
  for (int r = 0; r < world_; ++r) {
    const std::string prefix = "[rank " + std::to_string(r) + "/" + std::to_string(world_) + "] ";
    std::ifstream in(log_of(dir_, r));
    std::string text = prefix + "----- output of rank " + std::to_string(r) + " -----\n";
    for (std::string line; std::getline(in, line);) text += prefix + line + "\n";
    write_all(to, text);
  }
}

void rank_logs::replay_own() const {
  std::fflush(stdout);
  std::fflush(stderr);
  std::ifstream in(log_of(dir_, rank_), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_all(saved_out_ >= 0 ? saved_out_ : STDOUT_FILENO, text);
}

void rank_logs::restore() const {
  std::fflush(stdout);
  std::fflush(stderr);
  if (saved_out_ >= 0) ::dup2(saved_out_, STDOUT_FILENO);
  if (saved_err_ >= 0) ::dup2(saved_err_, STDERR_FILENO);
}

bool rank_logs::claim_report() const {
  const int fd = ::open((dir_ / "report.claimed").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace skyssl::test
