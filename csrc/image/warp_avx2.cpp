#include "image/warp_avx2.h"

#include <immintrin.h>

#define FACEID_AVX2 __attribute__((target("avx2,fma")))

namespace faceid::avx2 {
namespace {

// Channel `shift` / 8 of eight gathered pixels (one per 32-bit lane) as floats.
FACEID_AVX2 inline __m256 channel(__m256i pixels, int shift) {
  const __m256i bytes = _mm256_and_si256(_mm256_srlv_epi32(pixels, _mm256_set1_epi32(shift)), _mm256_set1_epi32(0xFF));
  return _mm256_cvtepi32_ps(bytes);
}

// Four source coordinates: m_a * x + (m_b * y + m_c) for x = x0 .. x0 + 3.
FACEID_AVX2 inline __m256d coordinates(double m_a, double row_term, int x0) {
  const __m256d xs = _mm256_add_pd(_mm256_set1_pd(x0), _mm256_set_pd(3.0, 2.0, 1.0, 0.0));
  return _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(m_a), xs), _mm256_set1_pd(row_term));
}

FACEID_AVX2 inline bool inside(__m256d v, double limit) {
  const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_GE_OQ),
                                   _mm256_cmp_pd(v, _mm256_set1_pd(limit), _CMP_LT_OQ));
  return _mm256_movemask_pd(ok) == 0xF;
}

}  // namespace

FACEID_AVX2 bool warp_block8(const AffineWarp& warp, int x0, int y, float* r, float* g, float* b) {
  const double* m = warp.inverse;
  const double x_term = m[1] * y + m[2], y_term = m[4] * y + m[5];
  const __m256d sx_lo = coordinates(m[0], x_term, x0), sx_hi = coordinates(m[0], x_term, x0 + 4);
  const __m256d sy_lo = coordinates(m[3], y_term, x0), sy_hi = coordinates(m[3], y_term, x0 + 4);
  const double x_limit = warp.width - 2.0, y_limit = warp.height - 1.0;
  if (!(inside(sx_lo, x_limit) && inside(sx_hi, x_limit) && inside(sy_lo, y_limit) && inside(sy_hi, y_limit)))
    return false;
  const __m256d fx_lo = _mm256_floor_pd(sx_lo), fx_hi = _mm256_floor_pd(sx_hi);
  const __m256d fy_lo = _mm256_floor_pd(sy_lo), fy_hi = _mm256_floor_pd(sy_hi);
  const __m256 ax = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(sx_hi, fx_hi)),
                                    _mm256_cvtpd_ps(_mm256_sub_pd(sx_lo, fx_lo)));
  const __m256 ay = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(sy_hi, fy_hi)),
                                    _mm256_cvtpd_ps(_mm256_sub_pd(sy_lo, fy_lo)));
  const __m256i xi = _mm256_set_m128i(_mm256_cvttpd_epi32(fx_hi), _mm256_cvttpd_epi32(fx_lo));
  const __m256i yi = _mm256_set_m128i(_mm256_cvttpd_epi32(fy_hi), _mm256_cvttpd_epi32(fy_lo));
  const int stride = static_cast<int>(warp.row_bytes);
  const __m256i offset = _mm256_add_epi32(_mm256_mullo_epi32(yi, _mm256_set1_epi32(stride)),
                                          _mm256_mullo_epi32(xi, _mm256_set1_epi32(3)));
  const int* base = reinterpret_cast<const int*>(warp.src);
  const __m256i p00 = _mm256_i32gather_epi32(base, offset, 1);
  const __m256i p01 = _mm256_i32gather_epi32(base, _mm256_add_epi32(offset, _mm256_set1_epi32(3)), 1);
  const __m256i p10 = _mm256_i32gather_epi32(base, _mm256_add_epi32(offset, _mm256_set1_epi32(stride)), 1);
  const __m256i p11 = _mm256_i32gather_epi32(base, _mm256_add_epi32(offset, _mm256_set1_epi32(stride + 3)), 1);
  float* planes[3] = {r, g, b};
  for (int k = 0; k < 3; ++k) {
    const int shift = 8 * warp.order[k];
    const __m256 v00 = channel(p00, shift), v01 = channel(p01, shift);
    const __m256 v10 = channel(p10, shift), v11 = channel(p11, shift);
    const __m256 top = _mm256_add_ps(v00, _mm256_mul_ps(ax, _mm256_sub_ps(v01, v00)));
    const __m256 bottom = _mm256_add_ps(v10, _mm256_mul_ps(ax, _mm256_sub_ps(v11, v10)));
    const __m256 value = _mm256_add_ps(top, _mm256_mul_ps(ay, _mm256_sub_ps(bottom, top)));
    const __m256 out = _mm256_add_ps(_mm256_mul_ps(value, _mm256_set1_ps(warp.scale[k])), _mm256_set1_ps(warp.shift[k]));
    _mm256_storeu_ps(planes[k] + x0, out);
  }
  return true;
}

}  // namespace faceid::avx2
