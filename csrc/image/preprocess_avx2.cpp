#include "image/preprocess_avx2.h"

#include <immintrin.h>

#define FACEID_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace faceid::avx2 {
namespace {

// pshufb masks that gather the bytes of one channel from 48 bytes (16 RGB pixels) in 3 registers.
struct Deinterleave {
  __m128i from_a, from_b, from_c;
};

// kMasks[channel][part][i]: byte of 16-byte part `part` that holds channel `channel` of pixel i, or -1.
constexpr int8_t mask_byte(int channel, int part, int i) {
  return (3 * i + channel) / 16 == part ? static_cast<int8_t>((3 * i + channel) % 16) : int8_t{-1};
}
struct MaskTable {
  int8_t bytes[3][3][16];
};
constexpr MaskTable make_masks() {
  MaskTable table{};
  for (int channel = 0; channel < 3; ++channel)
    for (int part = 0; part < 3; ++part)
      for (int i = 0; i < 16; ++i) table.bytes[channel][part][i] = mask_byte(channel, part, i);
  return table;
}
alignas(16) constexpr MaskTable kMasks = make_masks();

FACEID_AVX2 inline Deinterleave channel_masks(int channel) {
  const auto* m = reinterpret_cast<const __m128i*>(kMasks.bytes[channel]);
  return {_mm_load_si128(m), _mm_load_si128(m + 1), _mm_load_si128(m + 2)};
}

FACEID_AVX2 inline __m128i gather(const Deinterleave& m, __m128i a, __m128i b, __m128i c) {
  return _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, m.from_a), _mm_shuffle_epi8(b, m.from_b)),
                      _mm_shuffle_epi8(c, m.from_c));
}

// (x - mean) / std for 8 values: q = (x - mean) * (1 / std), then one FMA correction step.
FACEID_AVX2 inline __m256 normalise(__m128i bytes8, __m256 mean, __m256 std, __m256 inv) {
  const __m256 a = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes8)), mean);
  const __m256 q = _mm256_mul_ps(a, inv);
  const __m256 residual = _mm256_fnmadd_ps(q, std, a);
  return _mm256_fmadd_ps(residual, inv, q);
}

FACEID_AVX2 void store_channel(__m128i v, int channel, const Normalizer& norm, OutType type, void* plane,
                               int offset) {
  if (type == OutType::kUInt8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(plane) + offset), v);
    return;
  }
  const __m256 mean = _mm256_set1_ps(norm.mean[channel]);
  const __m256 std = _mm256_set1_ps(norm.std[channel]);
  const __m256 inv = _mm256_set1_ps(1.0f / norm.std[channel]);
  const __m256 lo = normalise(v, mean, std, inv);
  const __m256 hi = normalise(_mm_srli_si128(v, 8), mean, std, inv);
  if (type == OutType::kFloat32) {
    float* out = static_cast<float*>(plane) + offset;
    _mm256_storeu_ps(out, lo);
    _mm256_storeu_ps(out + 8, hi);
  } else {
    uint16_t* out = static_cast<uint16_t*>(plane) + offset;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), _mm256_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT));
  }
}

}  // namespace

FACEID_AVX2 void write_blocks(const uint8_t* row, int width, int blocks, bool flip, bool src_is_bgr,
                              const Normalizer& norm, OutType type, void* r, void* g, void* b) {
  // Output channel k (R, G, B) reads source byte (k or 2 - k) of each pixel.
  const Deinterleave masks[3] = {channel_masks(src_is_bgr ? 2 : 0), channel_masks(1),
                                 channel_masks(src_is_bgr ? 0 : 2)};
  void* planes[3] = {r, g, b};
  const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int block = 0; block < blocks; ++block) {
    const uint8_t* src = row + 48 * block;
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i b16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 32));
    const int x0 = 16 * block;
    const int offset = flip ? width - 16 - x0 : x0;
    for (int k = 0; k < 3; ++k) {
      __m128i v = gather(masks[k], a, b16, c);
      if (flip) v = _mm_shuffle_epi8(v, reverse);
      store_channel(v, k, norm, type, planes[k], offset);
    }
  }
}

FACEID_AVX2 void write_planar_blocks(const uint8_t* const src[3], int width, int blocks, bool flip,
                                     const Normalizer& norm, OutType type, void* const dst[3]) {
  const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int k = 0; k < 3; ++k) {
    for (int block = 0; block < blocks; ++block) {
      const int x0 = 16 * block;
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[k] + x0));
      if (flip) v = _mm_shuffle_epi8(v, reverse);
      store_channel(v, k, norm, type, dst[k], flip ? width - 16 - x0 : x0);
    }
  }
}

}  // namespace faceid::avx2
