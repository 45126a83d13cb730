// Process-wide settings made once at start-up, before any other thread exists: the open
// files limit and the signal dispositions every thread inherits.
//
// Thread affinity: main thread, before the control thread starts.
#pragma once

#include <signal.h>

namespace ringway::control {

// Raises the soft RLIMIT_NOFILE to the hard one and logs `open files limit=<n>` (the
// shards size their fixed-file tables from it). A failure is logged and leaves the limit.
void raise_open_files_limit();

// SIGHUP, SIGTERM, SIGINT, SIGUSR1: the signals the control loop reads from its signalfd.
sigset_t control_signals();

// Blocks control_signals() in the calling thread (so in every thread it creates later: no
// thread ever takes them the default way; the control loop reads them) and ignores SIGPIPE.
void block_control_signals();

}  // namespace ringway::control
