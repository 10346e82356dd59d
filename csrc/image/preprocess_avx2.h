// AVX2/FMA/F16C version of the row kernel in preprocess.cpp, chosen at run time (simd::use_avx2()); built on
// x86-64 only. Its results must equal the 256-entry tables bit for bit; Normalizer checks that for every
// input value before use.
#pragma once

#include <cstdint>

#include "image/preprocess.h"

namespace faceid::avx2 {

// Pixels [0, 16 * blocks) of one interleaved row into the planes r, g, b (each `width` long), flipped
// (pixel x to width - 1 - x) when `flip`. Float32 is (x - mean) / std computed as a product with an
// FMA correction; float16 is that value rounded by the hardware; uint8 copies.
void write_blocks(const uint8_t* row, int width, int blocks, bool flip, bool src_is_bgr, const Normalizer& norm,
                  OutType type, void* r, void* g, void* b);

// The same for planar source rows src[0..2] (R, G, B).
void write_planar_blocks(const uint8_t* const src[3], int width, int blocks, bool flip, const Normalizer& norm,
                         OutType type, void* const dst[3]);

}  // namespace faceid::avx2
