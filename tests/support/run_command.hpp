#pragma once
// Runs a shell command for a test that drives the tools: its status as pclose returns it, and
// its stdout and stderr together.
#include <cstdio>
#include <stdexcept>
#include <string>

namespace skyssl::test {

struct command_result {
  int status = 0;
  std::string output;
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

}  // namespace skyssl::test
