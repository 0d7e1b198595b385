#pragma once
// Runs a shell command for a test that drives the tools: its status as pclose returns it, and
// its stdout and stderr together. Every test that starts a process goes through here.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace skyssl::test {

// The exit code as a shell reports it: the command's own, or 128 + the signal that ended it.
inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

struct command_result {
  int status = 0;
  std::string output;
  int code() const { return exit_code(status); }
};

inline command_result run_command(const std::string& cmd) {
  command_result r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  // An exception fails the test case: a status could pass a check that expects a failure.
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  r.status = pclose(p);
  return r;
}

// The same, and the output kept in `log` as well, to look at after the test.
inline command_result run_command(const std::string& cmd, const std::filesystem::path& log) {
  auto r = run_command(cmd);
  std::ofstream(log) << r.output;
  return r;
}

}  // namespace skyssl::test
