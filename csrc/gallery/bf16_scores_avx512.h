// AVX512-BF16 tile kernel of bf16_scores.cpp (vdpbf16ps), chosen at run time (simd::use_avx512_bf16()); built
// on x86-64 only.
#pragma once

#include "gallery/bf16_scores.h"

namespace faceid::gallery::avx512 {

// The same contract as score_tile_scalar: 32 rows x tile.nq queries, 2 x nq accumulators in zmm registers.
void score_tile(const Tile& tile);

}  // namespace faceid::gallery::avx512
