// `nst-train --nproc N`: the data-parallel ranks of one machine, started by nst-train itself with
// the variables torchrun would set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
// 127.0.0.1, MASTER_PORT: the environment's or a free one).
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace nst {

// A TCP port free on the loopback now (the kernel's choice), for rank 0's rendezvous store.
int free_loopback_port();

// Runs `executable` with `arguments` as ranks 0..nproc-1 and waits for them. A stop signal
// (Ctrl-C, SIGTERM) is passed to every rank once, so they stop together at a checkpoint. When a
// rank fails, the others stop on their own (within `timeout`) or are killed after it. Returns 0,
// the first failing rank's exit status (128 + signal when killed), or 130 after a stop signal.
int launch_local_ranks(const std::string& executable, const std::vector<std::string>& arguments, int nproc,
                       std::chrono::milliseconds timeout);

}  // namespace nst
