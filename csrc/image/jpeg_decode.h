// JPEG decoding through libjpeg-turbo, strict: corrupt-data warnings are errors, so a damaged
// training image is reported instead of silently decoded as grey blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace faceid {

bool looks_like_jpeg(const uint8_t* data, size_t size);

// Receives the decoded image one interleaved RGB row at a time.
class RowSink {
 public:
  virtual ~RowSink() = default;
  // Called once with the image size, before any row; may throw DecodeError to refuse the size.
  virtual void begin(int width, int height) = 0;
  virtual void row(const uint8_t* rgb, int y) = 0;
};

// Decodes `data` as RGB into `sink`; throws DecodeError with libjpeg's message on failure.
// The decoder state is reused between calls, so keep one per thread.
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
  void decode(const uint8_t* data, size_t size, RowSink* sink);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The calling thread's decoder.
JpegDecoder& thread_jpeg_decoder();

}  // namespace faceid
