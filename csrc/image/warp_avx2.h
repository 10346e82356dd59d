// AVX2 version of the warp's inner loop (warp.cpp), eight output pixels at a time, chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceid::avx2 {

struct WarpRow {
  const uint8_t* src;  // interleaved 3-channel image
  int height, width;
  size_t row_bytes;
  const double* inverse;  // output (x, y) -> source (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5])
  int order[3];           // source channel of output plane k
  float scale[3], shift[3];
};

// Output pixels x0 .. x0 + 7 of row y into r, g, b (the planes' rows), when every one of them samples inside
// the image with a byte to spare after its last neighbour (the scalar loop's interior case); false, with
// nothing written, otherwise. The image must be under 2 GiB (32-bit gather offsets).
bool warp_block8(const WarpRow& row, int x0, int y, float* r, float* g, float* b);

}  // namespace faceid::avx2
