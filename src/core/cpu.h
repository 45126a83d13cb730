// CPU affinity masks and thread names, for placing shard threads on the CPUs the process
// was started with (taskset, systemd CPUAffinity=, a parent's sched_setaffinity).
//
// Thread affinity: any thread; each function reads or changes the calling thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ringway::core {

// The CPUs of the calling thread's affinity mask, ascending. Masks larger than
// CPU_SETSIZE are read too (the set grows until the kernel's mask fits). Empty on failure,
// with the errno value in *err.
std::vector<int> allowed_cpus(int* err);

// Restricts the calling thread to `cpu` (>= 0). Returns 0 or an errno value.
int pin_thread(int cpu);

// Names the calling thread (/proc/PID/task/TID/comm), cut to the kernel's 15 characters.
// Returns 0 or an errno value.
int name_thread(std::string_view name);

// Ascending CPUs in the list format of `taskset -c` and Cpus_allowed_list: "0-3,8".
std::string cpu_list_text(const std::vector<int>& cpus);

}  // namespace ringway::core
