// Face alignment's warp fused with the model's input transform: bilinear sampling of an interleaved
// uint8 image through an affine map, written as normalised float32 CHW planes in RGB order. The
// interpolated value is normalised as it is (not rounded to uint8 first, as a warp to a uint8 chip
// followed by normalisation would).
#pragma once

#include <array>
#include <cstdint>

namespace faceid {

struct WarpOptions {
  bool src_is_bgr = true;
  std::array<float, 3> mean{127.5f, 127.5f, 127.5f};  // per RGB channel
  std::array<float, 3> std{127.5f, 127.5f, 127.5f};
};

// Output pixel (x, y) samples the source at (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]), pixel
// centres at integer coordinates; source pixels outside the image count as 0 (OpenCV's
// warpAffine with BORDER_CONSTANT 0, whose forward matrix is the inverse of `inverse`).
void warp_affine_chw(const uint8_t* src, int height, int width, const double inverse[6], int out_height,
                     int out_width, const WarpOptions& options, float* out);

}  // namespace faceid
