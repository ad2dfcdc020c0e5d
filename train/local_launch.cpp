#include "train/local_launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <stdexcept>
#include <thread>

#include "core/signals.h"

namespace nst {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void exec_rank(const std::string& executable, const std::vector<std::string>& arguments,
                            const std::map<std::string, std::string>& variables) {
  ::setpgid(0, 0);                    // the terminal's Ctrl-C reaches the launcher only, which passes it on once
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a launcher killed outright stops its ranks
  for (const auto& [name, value] : variables) ::setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> argv{const_cast<char*>(executable.c_str())};
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  ::execv(executable.c_str(), argv.data());
  std::cerr << "nst-train: error: cannot start " << executable << "\n";
  std::_Exit(127);
}

int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string describe(int status) {
  return WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                           : "was killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("--nproc: cannot find a free TCP port on 127.0.0.1 (set MASTER_PORT)");
  return ntohs(address.sin_port);
}

int launch_local_ranks(const std::string& executable, const std::vector<std::string>& arguments, int nproc,
                       std::chrono::milliseconds timeout) {
  if (nproc < 1) throw std::runtime_error("--nproc must be >= 1, got " + std::to_string(nproc));
  const char* port = std::getenv("MASTER_PORT");
  std::map<std::string, std::string> variables{{"WORLD_SIZE", std::to_string(nproc)},
                                               {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                               {"MASTER_ADDR", "127.0.0.1"},
                                               {"MASTER_PORT", port && *port ? port : std::to_string(free_loopback_port())}};
  install_stop_handlers();
  std::map<pid_t, int> ranks;  // running: pid -> rank
  for (int rank = 0; rank < nproc; ++rank) {
    variables["RANK"] = variables["LOCAL_RANK"] = std::to_string(rank);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("--nproc: cannot start rank " + std::to_string(rank));
    if (pid == 0) exec_rank(executable, arguments, variables);
    ranks[pid] = rank;
  }
  int result = 0;
  bool forwarded = false;
  auto kill_at = Clock::time_point::max();  // after a failure: when to kill the ranks still running
  while (!ranks.empty()) {
    if (stop_requested() && !forwarded) {
      for (const auto& [pid, rank] : ranks) ::kill(pid, SIGTERM);
      forwarded = true;
    }
    if (Clock::now() > kill_at) {
      for (const auto& [pid, rank] : ranks) ::kill(pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto it = ranks.find(pid);
    if (it == ranks.end()) continue;
    const int rank = it->second;
    ranks.erase(it);
    const int code = exit_status(status);
    if (code == 0 || (forwarded && code == kExitInterrupted)) continue;
    if (result == 0) {
      result = code;
      std::cerr << "nst-train: rank " << rank << " " << describe(status) << "; waiting for the other ranks to stop\n";
      kill_at = Clock::now() + timeout + std::chrono::seconds(10);
    }
  }
  return result != 0 ? result : forwarded ? kExitInterrupted : 0;
}

}  // namespace nst
