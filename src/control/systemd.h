// systemd's notify protocol (Type=notify): READY=1, RELOADING=1, STOPPING=1.
//
// Thread affinity: any thread; the control thread is the only caller.
#pragma once

namespace ringway::control {

// Sends `state` to $NOTIFY_SOCKET (an abstract socket when it starts with '@'). Does
// nothing when the variable is unset or empty; failures are ignored, as sd_notify's are.
void notify_systemd(const char* state);

}  // namespace ringway::control
