#include "image/warp.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "common/check.h"
#include "common/simd.h"
#ifdef FACEID_HAVE_X86_SIMD
#include "image/warp_avx2.h"
#endif

namespace faceid {
namespace {

// Channel c of source pixel (x, y), 0 outside the image.
inline float at(const AffineWarp& s, int x, int y, int c) {
  if (x < 0 || y < 0 || x >= s.width || y >= s.height) return 0.0f;
  return s.src[static_cast<size_t>(y) * s.row_bytes + 3 * static_cast<size_t>(x) + c];
}

// Bilinear sample near or past the image's edge, where some neighbours are border zeros.
__attribute__((noinline)) void sample_edge(const AffineWarp& s, double sx, double sy, float value[3]) {
  value[0] = value[1] = value[2] = 0.0f;
  // Outside [-1, size) (or not a number) all four neighbours are zeros. Inside, the shifted coordinate is
  // positive, so truncation is floor.
  if (!(sx >= -1.0 && sx < s.width && sy >= -1.0 && sy < s.height)) return;
  const int x0 = static_cast<int>(sx + 1.0) - 1, y0 = static_cast<int>(sy + 1.0) - 1;
  const float ax = static_cast<float>(sx - x0), ay = static_cast<float>(sy - y0);
  for (int c = 0; c < 3; ++c) {
    const float top = at(s, x0, y0, c) + ax * (at(s, x0 + 1, y0, c) - at(s, x0, y0, c));
    const float bottom = at(s, x0, y0 + 1, c) + ax * (at(s, x0 + 1, y0 + 1, c) - at(s, x0, y0 + 1, c));
    value[c] = top + ay * (bottom - top);
  }
}

// Bilinear sample with all four neighbours inside the image (the scalar twin of avx2::warp_block8).
inline void sample_inside(const AffineWarp& s, double sx, double sy, float value[3]) {
  const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);  // sx, sy >= 0: truncation is floor
  const float ax = static_cast<float>(sx - x0), ay = static_cast<float>(sy - y0);
  const uint8_t* p = s.src + static_cast<size_t>(y0) * s.row_bytes + 3 * static_cast<size_t>(x0);
  const uint8_t* q = p + s.row_bytes;
  for (int c = 0; c < 3; ++c) {
    const float top = p[c] + ax * (p[c + 3] - p[c]);
    const float bottom = q[c] + ax * (q[c + 3] - q[c]);
    value[c] = top + ay * (bottom - top);
  }
}

}  // namespace

std::array<double, 6> invert_affine(const double m[6]) {
  for (int j = 0; j < 6; ++j) FACEID_CHECK_ARG(std::isfinite(m[j]), "expected finite values, got ", m[j]);
  const double det = m[0] * m[4] - m[1] * m[3];
  FACEID_CHECK_ARG(std::abs(det) > 1e-12, "expected an invertible map, determinant is ", det);
  std::array<double, 6> inv{};
  inv[0] = m[4] / det;
  inv[1] = -m[1] / det;
  inv[3] = -m[3] / det;
  inv[4] = m[0] / det;
  inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
  inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
  return inv;
}

void warp_affine_chw(const uint8_t* src, int height, int width, const double inverse[6], int out_height,
                     int out_width, const WarpOptions& options, float* out) {
  AffineWarp warp{src, height, width, static_cast<size_t>(width) * 3, inverse, {}, {}, {}};
  // Output plane k (R, G, B) takes sampled channel warp.order[k].
  warp.order[0] = options.src_is_bgr ? 2 : 0;
  warp.order[1] = 1;
  warp.order[2] = options.src_is_bgr ? 0 : 2;
  for (int k = 0; k < 3; ++k) {
    warp.scale[k] = 1.0f / options.std[k];
    warp.shift[k] = -options.mean[k] * warp.scale[k];
  }
  const bool vector = simd::use_avx2() && warp.row_bytes * static_cast<size_t>(height) < (size_t{1} << 31);
  // The interior: x0 + 2 < width, y0 + 1 < height (the AVX2 gathers read a byte past the last neighbour).
  const double x_limit = width - 2.0, y_limit = height - 1.0;
  const size_t plane = static_cast<size_t>(out_height) * out_width;
  for (int y = 0; y < out_height; ++y) {
    float* r = out + static_cast<size_t>(y) * out_width;
    float* g = r + plane;
    float* b = g + plane;
    for (int x = 0; x < out_width;) {
#ifdef FACEID_HAVE_X86_SIMD
      if (vector && x + 8 <= out_width && avx2::warp_block8(warp, x, y, r, g, b)) {
        x += 8;
        continue;
      }
#endif
      // One group (8 pixels, or what is left) the scalar way.
      for (const int end = vector ? std::min(x + 8, out_width) : out_width; x < end; ++x) {
        const double sx = inverse[0] * x + inverse[1] * y + inverse[2];
        const double sy = inverse[3] * x + inverse[4] * y + inverse[5];
        float value[3];
        if (sx >= 0.0 && sy >= 0.0 && sx < x_limit && sy < y_limit)
          sample_inside(warp, sx, sy, value);
        else
          sample_edge(warp, sx, sy, value);
        r[x] = value[warp.order[0]] * warp.scale[0] + warp.shift[0];
        g[x] = value[warp.order[1]] * warp.scale[1] + warp.shift[1];
        b[x] = value[warp.order[2]] * warp.scale[2] + warp.shift[2];
      }
    }
  }
}

}  // namespace faceid
