// Which vector kernels run. The AVX2 sources (image/*_avx2.cpp) are compiled on x86-64 only, where CMake
// defines FACEID_HAVE_X86_SIMD; everywhere else, and when FACEID_FORCE_SCALAR=1 is set as the module loads,
// the scalar paths run. Both give the same results (the tests compare them with numpy references).
#pragma once

namespace faceid::simd {

// This build holds the AVX2 kernels (an x86-64 build).
constexpr bool kCompiled =
#ifdef FACEID_HAVE_X86_SIMD
    true;
#else
    false;
#endif

// The AVX2/FMA/F16C kernels may run: compiled in, supported by this CPU, and not forced off.
bool use_avx2();

// The AVX512-BF16 kernels (gallery/bf16_scores_avx512.cpp: vdpbf16ps) may run: compiled in, AVX512F/BW/BF16
// supported by this CPU and enabled by the OS, and not forced off.
bool use_avx512_bf16();

// Forces the scalar paths (the module calls this once at import with FACEID_FORCE_SCALAR's value).
void set_force_scalar(bool on);
bool scalar_forced();

}  // namespace faceid::simd
