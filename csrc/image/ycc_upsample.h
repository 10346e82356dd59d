// libjpeg-turbo's default chroma upsampling (the "fancy" triangle filter) and its YCbCr -> RGB
// conversion, reproduced bit for bit. The decoder takes the planes from jpeg_read_raw_data and
// converts rows itself, straight into the sink: libjpeg's own upsampling and colour pass, with
// its interleaved output, cost about as much as the entropy decoding and IDCT together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faceid {

// One decoded YCbCr image in component planes.
struct YccPlanes {
  int width = 0, height = 0;       // image size in pixels
  int h_factor = 1, v_factor = 1;  // luma samples per chroma sample: 1x1, 2x1 (4:2:2) or 2x2 (4:2:0)
  const uint8_t* y = nullptr;
  size_t y_stride = 0;
  const uint8_t* cb = nullptr;
  const uint8_t* cr = nullptr;
  size_t c_stride = 0;
  int c_width = 0, c_height = 0;  // chroma samples that belong to the image (libjpeg's downsampled size)
};

// Converts rows of a YccPlanes image to planar R, G, B; keeps its scratch between calls.
class YccConverter {
 public:
  // Row `y` (0 <= y < height) into r, g, b, each `width` bytes.
  void row(const YccPlanes& image, int y, uint8_t* r, uint8_t* g, uint8_t* b);

 private:
  std::vector<int16_t> sums_;
  std::vector<uint8_t> cb_, cr_;
};

}  // namespace faceid
