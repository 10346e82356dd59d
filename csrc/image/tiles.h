// BlazeFace tile preparation: square tiles of one BGR uint8 photo resized, cropped and letterboxed straight into
// a (N, 3, S, S) float32 NCHW batch, RGB, normalised to x / 127.5 - 1, padding -1 (a black canvas pixel).
//
// The geometry (which resize each tile is cut from, where, and where it sits on the canvas) comes from the
// caller (faceid.ops.detect keeps it in one place); this file only resamples and copies. Every distinct tile
// side is one resize of the whole image: area averaging when shrinking with OpenCV INTER_AREA's cells
// (fractional weights at cell edges for non-integer factors), bilinear with half-pixel centres and edge
// replication when enlarging (OpenCV INTER_LINEAR). Unlike cv2.resize on uint8, the resampled values are kept
// as float and normalised as they are, not rounded to uint8 first: they differ from the OpenCV path by at most
// about one uint8 level (1 / 127.5 after normalisation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/thread_pool.h"

namespace faceid {

// One resize of the whole image to height x width.
struct TileResize {
  int height, width;
};

// One tile: the width x height crop at (x0, y0) of resize `resize`, placed at (pad_x, pad_y) of the canvas.
struct TileCrop {
  int resize;
  int x0, y0, width, height;
  int pad_x, pad_y;
};

// A separable resampling along one axis: output i = sum over k < taps of weight[i * taps + k] * input[first[i] + k],
// every index inside the input (unused taps have weight 0).
struct AxisFilter {
  int taps = 0;
  std::vector<int> first;
  std::vector<float> weight;
};

// src -> dst samples (dst <= src): OpenCV INTER_AREA's cells, scale src / dst.
AxisFilter area_filter(int src, int dst);
// src -> dst samples (dst >= src): OpenCV INTER_LINEAR, source x = (i + 0.5) * src / dst - 0.5, clamped.
AxisFilter linear_filter(int src, int dst);

// The image (interleaved BGR uint8, height x width, rows `width * 3` bytes) into `out`, tiles.size() NCHW
// planes of size x size floats. Arguments are the binding's to check (every crop inside its resize, every
// placement inside the canvas). Work is split over `pool` (nullptr: the calling thread).
void prepare_tiles(const uint8_t* image, int height, int width, const std::vector<TileResize>& resizes,
                   const std::vector<TileCrop>& tiles, int size, ThreadPool* pool, float* out);

}  // namespace faceid
