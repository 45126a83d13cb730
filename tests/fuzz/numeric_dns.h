// For the targets that compile configurations (tests/fuzz): host names resolve only when they
// are IP literals. A name in a fuzzed configuration would otherwise send a DNS query per
// input (slow, and not the code under test); it fails like an unknown name instead.
//
// This definition of getaddrinfo takes precedence over libc's (and over the sanitizer's weak
// interceptor) in the target binary; it forwards to the next one with AI_NUMERICHOST.
#pragma once

#include <dlfcn.h>
#include <netdb.h>

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn next = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo h = hints != nullptr ? *hints : addrinfo{};
  h.ai_flags |= AI_NUMERICHOST;
  return next(node, service, &h, res);
}
