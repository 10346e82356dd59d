// Normalise + colour order + flip + HWC->CHW, the one image kernel the decoder and the
// inference preprocessing share. Output element types: float32, float16 (bits) or uint8.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace faceid {

enum class OutType : int { kFloat32 = 0, kFloat16 = 1, kUInt8 = 2 };

size_t out_type_size(OutType type);

// Per-channel (x - mean[c]) / std[c] with channels in RGB order, tabulated for all 256 inputs.
struct Normalizer {
  Normalizer(std::array<float, 3> mean, std::array<float, 3> std);
  std::array<float, 3> mean;
  std::array<float, 3> std;
  float f32[3][256];
  uint16_t f16[3][256];
  // Whether the AVX2 row kernel may serve each output type: the CPU has it and, checked over all 256
  // inputs per channel when constructed, it reproduces the tables exactly.
  bool vector_ok[3] = {false, false, false};  // indexed by OutType
};

// Round-to-nearest-even float -> IEEE half, bit-exact with numpy's astype(np.float16).
uint16_t float_to_half(float value);

// Writes one decoded row (interleaved, 3 channels) into the CHW image `out` of width `width`
// at row `y`; `plane` is height*width. `src_is_bgr` swaps the first and third channel.
void write_row_chw(const uint8_t* row, int y, int width, size_t plane, bool flip, bool src_is_bgr,
                   const Normalizer& norm, OutType type, void* out);

// The same from three planar rows (R, G, B), as the decoder's planar path produces them.
void write_planar_row_chw(const uint8_t* r, const uint8_t* g, const uint8_t* b, int y, int width, size_t plane,
                          bool flip, const Normalizer& norm, OutType type, void* out);

// A whole HWC uint8 image into CHW.
void hwc_to_chw(const uint8_t* src, int height, int width, bool flip, bool src_is_bgr, const Normalizer& norm,
                OutType type, void* out);

}  // namespace faceid
