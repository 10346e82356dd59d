// Face alignment's warp fused with the model's input transform: bilinear sampling of an interleaved
// uint8 image through an affine map, written as normalised float32 CHW planes in RGB order. The
// interpolated value is normalised as it is (not rounded to uint8 first, as a warp to a uint8 chip
// followed by normalisation would).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace faceid {

// The inverse of the affine map m: (x, y) -> (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]). Throws
// ArgumentError when an entry is not finite or the map is not invertible (|determinant| <= 1e-12).
std::array<double, 6> invert_affine(const double m[6]);

struct WarpOptions {
  bool src_is_bgr = true;
  std::array<float, 3> mean{127.5f, 127.5f, 127.5f};  // per RGB channel
  std::array<float, 3> std{127.5f, 127.5f, 127.5f};
};

// One warp as its kernels (scalar in warp.cpp, AVX2 in warp_avx2.cpp) see it: the whole source image, the
// output -> source map, and the output planes' channel order and normalisation.
struct AffineWarp {
  const uint8_t* src;  // interleaved 3-channel image
  int height, width;
  size_t row_bytes;
  const double* inverse;  // output (x, y) -> source (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5])
  int order[3];           // source channel of output plane k
  float scale[3], shift[3];
};

// Output pixel (x, y) samples the source at (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]), pixel
// centres at integer coordinates; source pixels outside the image count as 0 (OpenCV's
// warpAffine with BORDER_CONSTANT 0, whose forward matrix is the inverse of `inverse`).
void warp_affine_chw(const uint8_t* src, int height, int width, const double inverse[6], int out_height,
                     int out_width, const WarpOptions& options, float* out);

}  // namespace faceid
