// GPU image kernels. Built only when CMake finds nvcc; otherwise the stubs in no_cuda.cpp raise
// a clear "built without CUDA" error, so every function exists in every build.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace faceid::cuda {

bool built_with_cuda();

// Number of usable CUDA devices; 0 without a driver or device. `why` says why when it is 0.
int device_count(std::string* why);

// The training/inference preprocessing on the GPU: uint8 HWC batch (host memory) ->
// float32 CHW batch (host memory), flipped where flips[i] != 0, (x - mean) / std per RGB channel.
void flip_normalize(const uint8_t* src, const uint8_t* flips, int n, int height, int width, bool src_is_bgr,
                    std::array<float, 3> mean, std::array<float, 3> std, float* out);

}  // namespace faceid::cuda
