#include "image/ycc_upsample.h"

#include <algorithm>

#include "common/simd.h"

namespace faceid {
namespace {

// jdcolor.c: 16-bit fixed point, constants rounded as libjpeg's FIX() does.
constexpr int32_t fix(double x) { return static_cast<int32_t>(x * 65536 + 0.5); }
constexpr int32_t kHalf = 1 << 15;
constexpr int32_t kCrToR = fix(1.40200);
constexpr int32_t kCbToB = fix(1.77200);
constexpr int32_t kCrToG = fix(0.71414);
constexpr int32_t kCbToG = fix(0.34414);

inline uint8_t clamp_byte(int32_t v) { return static_cast<uint8_t>(std::min(std::max(v, 0), 255)); }

// sums[1 + i] = weight_near * near[i] + far[i] for i < n (far may be null: then near alone), and
// the edge values repeated at sums[0] and sums[n + 1]: libjpeg replicates edge samples.
inline void column_sums(const uint8_t* __restrict near, const uint8_t* __restrict far, int n, int16_t* __restrict sums) {
  if (far != nullptr) {
    for (int i = 0; i < n; ++i) sums[1 + i] = static_cast<int16_t>(3 * near[i] + far[i]);
  } else {
    for (int i = 0; i < n; ++i) sums[1 + i] = near[i];
  }
  sums[0] = sums[1];
  sums[n + 1] = sums[n];
}

// Horizontal doubling, jdsample.c's h2v1/h2v2 fancy filters: out[2i] = (3 s[i] + s[i-1] + bias_even)
// >> shift, out[2i+1] = (3 s[i] + s[i+1] + bias_odd) >> shift. `sums` carries the edge copies.
inline void widen(const int16_t* __restrict sums, int n, int bias_even, int bias_odd, int shift,
                  uint8_t* __restrict out) {
  for (int i = 0; i < n; ++i) {
    const int centre = 3 * sums[1 + i];
    out[2 * i] = static_cast<uint8_t>((centre + sums[i] + bias_even) >> shift);
    out[2 * i + 1] = static_cast<uint8_t>((centre + sums[i + 2] + bias_odd) >> shift);
  }
}

inline void ycc_to_rgb(const uint8_t* __restrict y, const uint8_t* __restrict cb, const uint8_t* __restrict cr, int n,
                       uint8_t* __restrict r, uint8_t* __restrict g, uint8_t* __restrict b) {
  for (int x = 0; x < n; ++x) {
    const int32_t luma = y[x];
    const int32_t u = cb[x] - 128;
    const int32_t v = cr[x] - 128;
    r[x] = clamp_byte(luma + ((kCrToR * v + kHalf) >> 16));
    g[x] = clamp_byte(luma + ((-kCbToG * u - kCrToG * v + kHalf) >> 16));
    b[x] = clamp_byte(luma + ((kCbToB * u + kHalf) >> 16));
  }
}

// One chroma component's samples for image row `y`, upsampled to full width in `out` (or, for
// 4:4:4, a pointer to the plane row itself).
inline const uint8_t* chroma_row(const YccPlanes& p, const uint8_t* plane, int y, int16_t* sums, uint8_t* out) {
  if (p.h_factor == 1) return plane + static_cast<size_t>(y) * p.c_stride;
  if (p.v_factor == 1) {
    column_sums(plane + static_cast<size_t>(y) * p.c_stride, nullptr, p.c_width, sums);
    widen(sums, p.c_width, 1, 2, 2, out);
    return out;
  }
  // 2x2: the nearer chroma row weighs 3, the farther one (above for even rows, below for odd) 1.
  const int near = y / 2;
  const int far = std::min(std::max(y % 2 == 0 ? near - 1 : near + 1, 0), p.c_height - 1);
  column_sums(plane + static_cast<size_t>(near) * p.c_stride, plane + static_cast<size_t>(far) * p.c_stride,
              p.c_width, sums);
  widen(sums, p.c_width, 8, 7, 4, out);
  return out;
}

// One row of the conversion; compiled twice below, for the baseline and (x86-64 builds) for AVX2.
__attribute__((always_inline)) inline void convert_row_body(const YccPlanes& p, int y, int16_t* sums,
                                                            uint8_t* cb_buf, uint8_t* cr_buf, uint8_t* r,
                                                            uint8_t* g, uint8_t* b) {
  const uint8_t* cb = chroma_row(p, p.cb, y, sums, cb_buf);
  const uint8_t* cr = chroma_row(p, p.cr, y, sums, cr_buf);
  ycc_to_rgb(p.y + static_cast<size_t>(y) * p.y_stride, cb, cr, p.width, r, g, b);
}

void convert_row_baseline(const YccPlanes& p, int y, int16_t* sums, uint8_t* cb_buf, uint8_t* cr_buf, uint8_t* r,
                          uint8_t* g, uint8_t* b) {
  convert_row_body(p, y, sums, cb_buf, cr_buf, r, g, b);
}

#ifdef FACEID_HAVE_X86_SIMD
__attribute__((target("avx2"))) void convert_row_avx2(const YccPlanes& p, int y, int16_t* sums, uint8_t* cb_buf,
                                                      uint8_t* cr_buf, uint8_t* r, uint8_t* g, uint8_t* b) {
  convert_row_body(p, y, sums, cb_buf, cr_buf, r, g, b);
}
#endif

void convert_row(const YccPlanes& p, int y, int16_t* sums, uint8_t* cb_buf, uint8_t* cr_buf, uint8_t* r, uint8_t* g,
                 uint8_t* b) {
#ifdef FACEID_HAVE_X86_SIMD
  if (simd::use_avx2()) return convert_row_avx2(p, y, sums, cb_buf, cr_buf, r, g, b);
#endif
  convert_row_baseline(p, y, sums, cb_buf, cr_buf, r, g, b);
}

}  // namespace

void YccConverter::row(const YccPlanes& image, int y, uint8_t* r, uint8_t* g, uint8_t* b) {
  const size_t wide = 2 * static_cast<size_t>(image.c_width);  // >= width when chroma is halved
  if (sums_.size() < static_cast<size_t>(image.c_width) + 2) sums_.resize(image.c_width + 2);
  if (cb_.size() < wide) {
    cb_.resize(wide);
    cr_.resize(wide);
  }
  convert_row(image, y, sums_.data(), cb_.data(), cr_.data(), r, g, b);
}

}  // namespace faceid
