// AVX2/FMA versions of the two resampling passes in tiles.cpp, chosen at run time (simd::use_avx2()); built on
// x86-64 only. Same arithmetic as the scalar loops, except that the FMAs round once per multiply-add.
#pragma once

#include <cstdint>

#include "image/tiles.h"

namespace faceid::avx2 {

// out[i] = sum over k < count of weights[k] * rows[k][i], for i < length (uint8 rows, float out).
void blend_rows(const uint8_t* const* rows, const float* weights, int count, int length, float* out);

// Horizontal pass over one interleaved 3-channel float row (readable up to one float past its last pixel):
// output pixel x = sum_k filter.weight[x * taps + k] * row[first[x] + k], scaled by `scale`, plus `shift`,
// channel order[k] of it into plane k (planes[k][x]), for begin <= x < end.
void resample_row(const float* row, const AxisFilter& filter, int begin, int end, const int order[3], float scale,
                  float shift, float* const planes[3]);

}  // namespace faceid::avx2
