#include "image/warp.h"

#include <algorithm>
#include <cstddef>

#include "image/preprocess_avx2.h"
#include "image/warp_avx2.h"

namespace faceid {
namespace {

// Channel c of source pixel (x, y), 0 outside the image.
inline float at(const avx2::WarpRow& s, int x, int y, int c) {
  if (x < 0 || y < 0 || x >= s.width || y >= s.height) return 0.0f;
  return s.src[static_cast<size_t>(y) * s.row_bytes + 3 * static_cast<size_t>(x) + c];
}

// Bilinear sample near or past the image's edge, where some neighbours are border zeros.
__attribute__((noinline)) void sample_edge(const avx2::WarpRow& s, double sx, double sy, float value[3]) {
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
inline void sample_inside(const avx2::WarpRow& s, double sx, double sy, float value[3]) {
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

void warp_affine_chw(const uint8_t* src, int height, int width, const double inverse[6], int out_height,
                     int out_width, const WarpOptions& options, float* out) {
  avx2::WarpRow row{src, height, width, static_cast<size_t>(width) * 3, inverse, {}, {}, {}};
  // Output plane k (R, G, B) takes sampled channel row.order[k].
  row.order[0] = options.src_is_bgr ? 2 : 0;
  row.order[1] = 1;
  row.order[2] = options.src_is_bgr ? 0 : 2;
  for (int k = 0; k < 3; ++k) {
    row.scale[k] = 1.0f / options.std[k];
    row.shift[k] = -options.mean[k] * row.scale[k];
  }
  static const bool have_avx2 = avx2::supported();
  const bool vector = have_avx2 && row.row_bytes * static_cast<size_t>(height) < (size_t{1} << 31);
  // The interior: x0 + 2 < width, y0 + 1 < height (the AVX2 gathers read a byte past the last neighbour).
  const double x_limit = width - 2.0, y_limit = height - 1.0;
  const size_t plane = static_cast<size_t>(out_height) * out_width;
  for (int y = 0; y < out_height; ++y) {
    float* r = out + static_cast<size_t>(y) * out_width;
    float* g = r + plane;
    float* b = g + plane;
    for (int x = 0; x < out_width;) {
      if (vector && x + 8 <= out_width && avx2::warp_block8(row, x, y, r, g, b)) {
        x += 8;
        continue;
      }
      // One group (8 pixels, or what is left) the scalar way.
      for (const int end = vector ? std::min(x + 8, out_width) : out_width; x < end; ++x) {
        const double sx = inverse[0] * x + inverse[1] * y + inverse[2];
        const double sy = inverse[3] * x + inverse[4] * y + inverse[5];
        float value[3];
        if (sx >= 0.0 && sy >= 0.0 && sx < x_limit && sy < y_limit)
          sample_inside(row, sx, sy, value);
        else
          sample_edge(row, sx, sy, value);
        r[x] = value[row.order[0]] * row.scale[0] + row.shift[0];
        g[x] = value[row.order[1]] * row.scale[1] + row.shift[1];
        b[x] = value[row.order[2]] * row.scale[2] + row.shift[2];
      }
    }
  }
}

}  // namespace faceid
