#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/cuda_ops.h"

namespace faceid::cuda {
namespace {

// One thread per output pixel: reads the 3 channels of (x or its mirror), writes 3 planes.
__global__ void flip_normalize_kernel(const uint8_t* __restrict__ src, const uint8_t* __restrict__ flips, int n,
                                      int height, int width, int red_index, float mean0, float mean1, float mean2,
                                      float std0, float std1, float std2, float* __restrict__ out) {
  const long long plane = static_cast<long long>(height) * width;
  const long long total = plane * n;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long sample = i / plane;
    const long long pixel = i - sample * plane;
    const int y = static_cast<int>(pixel / width);
    const int x = static_cast<int>(pixel - static_cast<long long>(y) * width);
    const int xs = flips[sample] ? width - 1 - x : x;
    const uint8_t* px = src + ((sample * height + y) * width + xs) * 3;
    float* dst = out + sample * 3 * plane + pixel;
    // Division, not multiplication by 1/std, so results equal the CPU kernel bit for bit.
    dst[0] = (static_cast<float>(px[red_index]) - mean0) / std0;
    dst[plane] = (static_cast<float>(px[1]) - mean1) / std1;
    dst[2 * plane] = (static_cast<float>(px[2 - red_index]) - mean2) / std2;
  }
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(status));
}

// Frees device memory on every path out of flip_normalize.
struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

}  // namespace

bool built_with_cuda() { return true; }

int device_count(std::string* why) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why != nullptr) *why = std::string("no usable CUDA device: ") + cudaGetErrorString(status);
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "no CUDA device present";
  return count;
}

void flip_normalize(const uint8_t* src, const uint8_t* flips, int n, int height, int width, bool src_is_bgr,
                    std::array<float, 3> mean, std::array<float, 3> std, float* out) {
  std::string why;
  if (device_count(&why) == 0) throw std::runtime_error(why);
  const size_t pixels = static_cast<size_t>(n) * height * width;
  DeviceBuffer d_src, d_flips, d_out;
  check(cudaMalloc(&d_src.ptr, pixels * 3), "malloc");
  check(cudaMalloc(&d_flips.ptr, static_cast<size_t>(n)), "malloc");
  check(cudaMalloc(&d_out.ptr, pixels * 3 * sizeof(float)), "malloc");
  check(cudaMemcpy(d_src.ptr, src, pixels * 3, cudaMemcpyHostToDevice), "copy to device");
  check(cudaMemcpy(d_flips.ptr, flips, static_cast<size_t>(n), cudaMemcpyHostToDevice), "copy to device");
  const int threads = 256;
  const long long blocks_needed = (static_cast<long long>(pixels) + threads - 1) / threads;
  const int blocks = static_cast<int>(blocks_needed < 65535 ? blocks_needed : 65535);
  flip_normalize_kernel<<<blocks, threads>>>(static_cast<const uint8_t*>(d_src.ptr),
                                             static_cast<const uint8_t*>(d_flips.ptr), n, height, width,
                                             src_is_bgr ? 2 : 0, mean[0], mean[1], mean[2], std[0], std[1], std[2],
                                             static_cast<float*>(d_out.ptr));
  check(cudaGetLastError(), "kernel launch");
  check(cudaMemcpy(out, d_out.ptr, pixels * 3 * sizeof(float), cudaMemcpyDeviceToHost), "copy to host");
}

}  // namespace faceid::cuda
