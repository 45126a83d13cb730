// The SHA-256 compression function (FIPS 180-4), in two versions: the x86 SHA extensions
// (SHA-NI: AMD since Zen, Intel since Ice Lake/Goldmont) and portable C++. The choice is
// made once, from CPUID, at start-up; a request pays one predictable branch.
//
// Thread affinity: any; pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringway::auth::internal {

// Runs `blocks` 64-byte blocks of `p` through the state `h` (8 words, H0..H7).
void Sha256Blocks(uint32_t h[8], const unsigned char* p, size_t blocks);

// The two versions, for tests and benchmarks. Sha256BlocksShaNi may only be called when
// Sha256HasShaNi() is true.
void Sha256BlocksPortable(uint32_t h[8], const unsigned char* p, size_t blocks);
void Sha256BlocksShaNi(uint32_t h[8], const unsigned char* p, size_t blocks);
bool Sha256HasShaNi();

}  // namespace ringway::auth::internal
