#include "image/jpeg_decode.h"

#include <csetjmp>
#include <cstdio>
#include <string>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include "common/check.h"

namespace faceid {

bool looks_like_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

namespace {

struct ErrorManager {
  jpeg_error_mgr base;  // must come first: libjpeg sees only this part
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) mean corrupt data: treat them as errors. Trace messages are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

}  // namespace

struct JpegDecoder::State {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::vector<uint8_t> row;
};

JpegDecoder::JpegDecoder() : state_(new State()) {
  state_->cinfo.err = jpeg_std_error(&state_->err.base);
  state_->err.base.error_exit = on_error;
  state_->err.base.emit_message = on_message;
  jpeg_create_decompress(&state_->cinfo);
}

JpegDecoder::~JpegDecoder() { jpeg_destroy_decompress(&state_->cinfo); }

void JpegDecoder::decode(const uint8_t* data, size_t size, RowSink* sink) {
  FACEID_CHECK_DATA(looks_like_jpeg(data, size), "not a JPEG (no SOI marker)");
  jpeg_decompress_struct* cinfo = &state_->cinfo;
  // Nothing with a destructor may live in this frame past setjmp: longjmp would skip it.
  std::string failure;
  bool sink_failed = false;
  if (setjmp(state_->err.jump)) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError(concat("corrupt JPEG: ", state_->err.message));
  }
  jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  cinfo->out_color_space = JCS_RGB;
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError("unsupported JPEG colour space (CMYK/YCCK)");
  }
  try {
    sink->begin(static_cast<int>(cinfo->image_width), static_cast<int>(cinfo->image_height));
  } catch (const std::exception& e) {
    failure = e.what();
    sink_failed = true;
  }
  if (sink_failed) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError(failure);
  }
  jpeg_start_decompress(cinfo);
  // Several rows per call: libjpeg-turbo upsamples chroma two rows at a time and copies through a
  // spare buffer when asked for a single row.
  constexpr int kRowsPerCall = 16;
  const size_t stride = static_cast<size_t>(cinfo->output_width) * cinfo->output_components;
  state_->row.resize(stride * kRowsPerCall);
  JSAMPROW rows[kRowsPerCall];
  for (int i = 0; i < kRowsPerCall; ++i) rows[i] = state_->row.data() + i * stride;
  while (cinfo->output_scanline < cinfo->output_height) {
    const int first = static_cast<int>(cinfo->output_scanline);
    const int got = static_cast<int>(jpeg_read_scanlines(cinfo, rows, kRowsPerCall));
    for (int i = 0; i < got; ++i) sink->row(rows[i], first + i);  // sinks that only write memory do not throw
  }
  jpeg_finish_decompress(cinfo);
}

JpegDecoder& thread_jpeg_decoder() {
  thread_local JpegDecoder decoder;
  return decoder;
}

}  // namespace faceid
