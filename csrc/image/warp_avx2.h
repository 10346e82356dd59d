// AVX2 version of the warp's inner loop (warp.cpp), eight output pixels at a time, chosen at run time
// (simd::use_avx2()); built on x86-64 only.
#pragma once

#include "image/warp.h"

namespace faceid::avx2 {

// Output pixels x0 .. x0 + 7 of row y into r, g, b (the planes' rows), when every one of them samples inside
// the image with a byte to spare after its last neighbour (the scalar loop's interior case); false, with
// nothing written, otherwise. The image must be under 2 GiB (32-bit gather offsets).
bool warp_block8(const AffineWarp& warp, int x0, int y, float* r, float* g, float* b);

}  // namespace faceid::avx2
