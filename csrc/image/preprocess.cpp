#include "image/preprocess.h"

#include <cstring>
#include <vector>

#include "common/simd.h"
#ifdef FACEID_HAVE_X86_SIMD
#include "image/preprocess_avx2.h"
#endif

namespace faceid {

size_t out_type_size(OutType type) {
  switch (type) {
    case OutType::kFloat32: return 4;
    case OutType::kFloat16: return 2;
    case OutType::kUInt8: return 1;
  }
  return 0;
}

uint16_t float_to_half(float value) {
  uint32_t f = 0;
  std::memcpy(&f, &value, sizeof(f));
  const uint32_t sign = (f >> 16) & 0x8000u;
  f &= 0x7fffffffu;
  if (f >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (f > 0x7f800000u ? 0x200u : 0u));
  if (f >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (f <= 0x33000000u) return static_cast<uint16_t>(sign);            // rounds to zero
  const uint32_t exponent = f >> 23;
  if (exponent < 113) {  // a half subnormal
    const uint32_t mantissa = (f & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((exponent - 112) << 10) | ((f >> 13) & 0x3ffu);
  const uint32_t rest = f & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry moves into the exponent
  return static_cast<uint16_t>(sign | half);
}

Normalizer::Normalizer(std::array<float, 3> mean_, std::array<float, 3> std_) : mean(mean_), std(std_) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      f32[c][v] = (static_cast<float>(v) - mean[c]) / std[c];
      f16[c][v] = float_to_half(f32[c][v]);
    }
  }
#ifdef FACEID_HAVE_X86_SIMD
  if (!simd::use_avx2()) return;
  // One row of 256 grey pixels holding every value, pushed through the vector kernel.
  std::vector<uint8_t> row(256 * 3);
  for (int v = 0; v < 256; ++v) row[3 * v] = row[3 * v + 1] = row[3 * v + 2] = static_cast<uint8_t>(v);
  std::vector<float> f(3 * 256);
  std::vector<uint16_t> h(3 * 256);
  std::vector<uint8_t> u(3 * 256);
  avx2::write_blocks(row.data(), 256, 16, false, false, *this, OutType::kFloat32, f.data(), f.data() + 256,
                     f.data() + 512);
  avx2::write_blocks(row.data(), 256, 16, false, false, *this, OutType::kFloat16, h.data(), h.data() + 256,
                     h.data() + 512);
  avx2::write_blocks(row.data(), 256, 16, false, false, *this, OutType::kUInt8, u.data(), u.data() + 256,
                     u.data() + 512);
  bool f32_ok = true, f16_ok = true, u8_ok = true;
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      f32_ok = f32_ok && std::memcmp(&f[256 * c + v], &f32[c][v], sizeof(float)) == 0;
      f16_ok = f16_ok && h[256 * c + v] == f16[c][v];
      u8_ok = u8_ok && u[256 * c + v] == v;
    }
  }
  vector_ok[static_cast<int>(OutType::kFloat32)] = f32_ok;
  vector_ok[static_cast<int>(OutType::kFloat16)] = f16_ok;
  vector_ok[static_cast<int>(OutType::kUInt8)] = u8_ok;
#endif
}

namespace {

template <typename T>
inline T convert(const Normalizer& norm, int channel, uint8_t v);
template <>
inline float convert<float>(const Normalizer& norm, int channel, uint8_t v) { return norm.f32[channel][v]; }
template <>
inline uint16_t convert<uint16_t>(const Normalizer& norm, int channel, uint8_t v) { return norm.f16[channel][v]; }
template <>
inline uint8_t convert<uint8_t>(const Normalizer&, int, uint8_t v) { return v; }

// Branch-free inner loops (flip and channel order are template parameters) that the compiler
// can optimise; values come from the 256-entry tables.
template <typename T, bool kFlip, bool kBgr>
void write_row_t(const uint8_t* __restrict row, int first, int width, const Normalizer& norm, T* __restrict r,
                 T* __restrict g, T* __restrict b) {
  constexpr int ri = kBgr ? 2 : 0;
  constexpr int bi = kBgr ? 0 : 2;
  for (int x = first; x < width; ++x) {
    const int xo = kFlip ? width - 1 - x : x;
    r[xo] = convert<T>(norm, 0, row[3 * x + ri]);
    g[xo] = convert<T>(norm, 1, row[3 * x + 1]);
    b[xo] = convert<T>(norm, 2, row[3 * x + bi]);
  }
}

template <typename T>
void write_row(const uint8_t* row, int y, int width, size_t plane, bool flip, bool src_is_bgr,
               const Normalizer& norm, OutType type, T* out) {
  T* r = out + static_cast<size_t>(y) * width;
  T* g = r + plane;
  T* b = g + plane;
  // Whole blocks of 16 pixels go through the vector kernel when it is exact; the rest stays scalar.
  int first = 0;
#ifdef FACEID_HAVE_X86_SIMD
  if (norm.vector_ok[static_cast<int>(type)]) {
    first = 16 * (width / 16);
    avx2::write_blocks(row, width, width / 16, flip, src_is_bgr, norm, type, r, g, b);
  }
#else
  static_cast<void>(type);  // only the vector kernel needs the output type
#endif
  if (flip) {
    if (src_is_bgr) return write_row_t<T, true, true>(row, first, width, norm, r, g, b);
    return write_row_t<T, true, false>(row, first, width, norm, r, g, b);
  }
  if (src_is_bgr) return write_row_t<T, false, true>(row, first, width, norm, r, g, b);
  write_row_t<T, false, false>(row, first, width, norm, r, g, b);
}

template <typename T>
void write_planar_row(const uint8_t* const src[3], int y, int width, size_t plane, bool flip, const Normalizer& norm,
                      OutType type, T* out) {
  T* r = out + static_cast<size_t>(y) * width;
  void* const dst[3] = {r, r + plane, r + 2 * plane};
  int first = 0;
#ifdef FACEID_HAVE_X86_SIMD
  if (norm.vector_ok[static_cast<int>(type)]) {
    first = 16 * (width / 16);
    avx2::write_planar_blocks(src, width, width / 16, flip, norm, type, dst);
  }
#else
  static_cast<void>(type);  // only the vector kernel needs the output type
#endif
  for (int c = 0; c < 3; ++c) {
    T* channel = static_cast<T*>(dst[c]);
    for (int x = first; x < width; ++x) channel[flip ? width - 1 - x : x] = convert<T>(norm, c, src[c][x]);
  }
}

}  // namespace

void write_planar_row_chw(const uint8_t* r, const uint8_t* g, const uint8_t* b, int y, int width, size_t plane,
                          bool flip, const Normalizer& norm, OutType type, void* out) {
  const uint8_t* const src[3] = {r, g, b};
  switch (type) {
    case OutType::kFloat32:
      return write_planar_row(src, y, width, plane, flip, norm, type, static_cast<float*>(out));
    case OutType::kFloat16:
      return write_planar_row(src, y, width, plane, flip, norm, type, static_cast<uint16_t*>(out));
    case OutType::kUInt8:
      return write_planar_row(src, y, width, plane, flip, norm, type, static_cast<uint8_t*>(out));
  }
}

void write_row_chw(const uint8_t* row, int y, int width, size_t plane, bool flip, bool src_is_bgr,
                   const Normalizer& norm, OutType type, void* out) {
  switch (type) {
    case OutType::kFloat32:
      return write_row(row, y, width, plane, flip, src_is_bgr, norm, type, static_cast<float*>(out));
    case OutType::kFloat16:
      return write_row(row, y, width, plane, flip, src_is_bgr, norm, type, static_cast<uint16_t*>(out));
    case OutType::kUInt8:
      return write_row(row, y, width, plane, flip, src_is_bgr, norm, type, static_cast<uint8_t*>(out));
  }
}

void hwc_to_chw(const uint8_t* src, int height, int width, bool flip, bool src_is_bgr, const Normalizer& norm,
                OutType type, void* out) {
  const size_t plane = static_cast<size_t>(height) * width;
  for (int y = 0; y < height; ++y)
    write_row_chw(src + static_cast<size_t>(y) * width * 3, y, width, plane, flip, src_is_bgr, norm, type, out);
}

}  // namespace faceid
