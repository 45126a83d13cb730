#include "core/cpu.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ringway::core {
namespace {

constexpr int kMaxCpus = 1 << 16;      // bound on the CPU numbers a mask is read for
constexpr size_t kMaxThreadName = 15;  // TASK_COMM_LEN - 1

// A CPU set (CPU_ALLOC) for CPU numbers below `n`, zeroed.
struct CpuSet {
  explicit CpuSet(int n) : set(CPU_ALLOC(n)), size(CPU_ALLOC_SIZE(n)) { CPU_ZERO_S(size, set); }
  ~CpuSet() { CPU_FREE(set); }
  CpuSet(const CpuSet&) = delete;
  CpuSet& operator=(const CpuSet&) = delete;

  cpu_set_t* set;
  size_t size;
};

}  // namespace

std::vector<int> allowed_cpus(int* err) {
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  *err = EINVAL;
  for (int n = std::max(CPU_SETSIZE, static_cast<int>(conf)); n <= kMaxCpus; n *= 2) {
    CpuSet cs(n);
    if (sched_getaffinity(0, cs.size, cs.set) == 0) {
      std::vector<int> cpus;
      for (int c = 0; c < n; ++c) {
        if (CPU_ISSET_S(c, cs.size, cs.set)) {
          cpus.push_back(c);
        }
      }
      *err = 0;
      return cpus;
    }
    *err = errno;
    if (*err != EINVAL) {  // EINVAL: the kernel's mask is larger than the set
      break;
    }
  }
  return {};
}

int pin_thread(int cpu) {
  CpuSet cs(cpu + 1);
  CPU_SET_S(static_cast<size_t>(cpu), cs.size, cs.set);
  return pthread_setaffinity_np(pthread_self(), cs.size, cs.set);
}

int name_thread(std::string_view name) {
  std::string cut(name.substr(0, kMaxThreadName));
  return pthread_setname_np(pthread_self(), cut.c_str());
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
      ++j;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(cpus[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace ringway::core
