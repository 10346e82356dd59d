#include "common/simd.h"

#include <atomic>

namespace faceid::simd {
namespace {

std::atomic<bool> forced{false};

bool cpu_has_avx2() {
#ifdef FACEID_HAVE_X86_SIMD
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

// libgcc's __builtin_cpu_supports checks that the OS saves the zmm state (XCR0) before it reports AVX512.
bool cpu_has_avx512_bf16() {
#ifdef FACEID_HAVE_X86_SIMD
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

}  // namespace

bool use_avx512_bf16() {
  static const bool cpu = cpu_has_avx512_bf16();
  return cpu && !forced.load(std::memory_order_relaxed);
}

bool use_avx2() {
  static const bool cpu = cpu_has_avx2();
  return cpu && !forced.load(std::memory_order_relaxed);
}

void set_force_scalar(bool on) { forced.store(on, std::memory_order_relaxed); }

bool scalar_forced() { return forced.load(std::memory_order_relaxed); }

}  // namespace faceid::simd
