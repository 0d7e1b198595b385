#pragma once
// skyssl-serve started by a test as a child process on 127.0.0.1 (port 0: the one it picked is
// read back from its "serving ... on http://127.0.0.1:PORT/" line), stopped with a signal, and
// its exit status and log checked.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace skyssl::test {

class serve_process {
 public:
  // Runs `command` (the program and its flags) with its output to `log`.
  serve_process(const std::string& command, std::filesystem::path log) : log_(std::move(log)) {
    std::filesystem::remove(log_);
    const std::string sh = "exec " + command + " > '" + log_.string() + "' 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
      // A test that aborts (a failed REQUIRE in a destructor's stead, a sanitizer report) runs
      // no destructor: the server must not outlive it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execl("/bin/sh", "sh", "-c", sh.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
  }
  ~serve_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  // Waits for the "serving" line (true, port() set) or the process's end (false, exit status
  // in status()). The index build and encoder load take seconds on a loaded machine.
  bool wait_ready(double seconds = 240) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      const auto text = output();
      const auto at = text.find("on http://127.0.0.1:");
      if (at != std::string::npos) {
        port_ = std::stoi(text.substr(at + 20));
        return true;
      }
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = st;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("skyssl-serve did not start within " << seconds << " s:\n" << output());
    return false;
  }

  // Sends `sig` and waits for the exit (at most `seconds`); the raw wait status.
  int stop(int sig = SIGTERM, double seconds = 60) {
    REQUIRE(pid_ > 0);
    ::kill(pid_, sig);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = st;
        return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("skyssl-serve did not exit within " << seconds << " s of signal " << sig);
    return -1;
  }

  bool running() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
  int port() const { return port_; }
  int status() const { return status_; }
  std::string output() const {
    std::ifstream f(log_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
};

}  // namespace skyssl::test
