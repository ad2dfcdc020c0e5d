// Ctrl-C and SIGTERM for long jobs: the first signal sets a flag that their loops poll, so they stop
// cleanly (a training checkpoint written, finished images kept, nothing half-written); a second
// signal ends the process at once. A job stopped this way exits with kExitInterrupted.
#pragma once

namespace nst {

inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports Ctrl-C

// Installs the handlers for SIGINT and SIGTERM and clears an earlier request.
void install_stop_handlers();

bool stop_requested();
int stop_signal();  // the signal that asked to stop, 0 when none

}  // namespace nst
