#include "formats/kvbin.h"

#include <cstring>
#include <vector>

#include "common/check.h"

namespace faceid {
namespace {

enum class Kind { kMark, kBytes, kText, kGlobalEncode, kGlobalBytes, kTuple };

// One entry of the parser's small stack (the grammar is the one of faceid.data.kvbin, the
// Python reference implementation).
struct Item {
  explicit Item(Kind k) : kind(k) {}
  Kind kind;
  std::string text;            // kText: the code points, each kept as one byte (see text_is_latin1)
  bool text_is_latin1 = true;  // kText: every code point fits in one byte
  ByteView bytes;              // kBytes
  std::vector<Item> items;     // kTuple
};

constexpr size_t kMaxStack = 8;

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t offset() const { return pos_; }
  bool at_end() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }
  bool in_frame() const { return frame_end_ != kNoFrame; }

  // Every read stays inside the current frame (FRAME n) or the data.
  size_t limit() const { return in_frame() ? frame_end_ : size_; }
  void open_frame(uint64_t length, size_t at) {
    FACEID_CHECK_DATA(!in_frame(), "pickle FRAME at offset ", at, " starts before the current frame ends");
    FACEID_CHECK_DATA(length <= remaining(), "pickle FRAME at offset ", at, " runs past the end");
    frame_end_ = pos_ + static_cast<size_t>(length);
  }
  uint8_t opcode() {
    if (in_frame() && pos_ == frame_end_) frame_end_ = kNoFrame;
    FACEID_CHECK_DATA(pos_ < size_, "pickle ends without STOP at offset ", pos_);
    return take(1).data[0];
  }
  uint64_t little_endian(int width) {
    ByteView raw = take(static_cast<uint64_t>(width));
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) value |= static_cast<uint64_t>(raw.data[i]) << (8 * i);
    return value;
  }
  ByteView take(uint64_t count) {
    FACEID_CHECK_DATA(count <= limit() - pos_, "pickle truncated at offset ", pos_, ": ", count,
                      " bytes announced, ", limit() - pos_, " left");
    ByteView view{data_ + pos_, static_cast<size_t>(count)};
    pos_ += static_cast<size_t>(count);
    return view;
  }
  // A text argument ending in '\n' (protocol 0); the newline is consumed, not returned.
  ByteView line() {
    const void* nl = std::memchr(data_ + pos_, '\n', limit() - pos_);
    FACEID_CHECK_DATA(nl != nullptr, "pickle truncated at offset ", pos_, ": missing end of line");
    size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (data_ + pos_));
    ByteView view = take(len + 1);
    view.size = len;
    return view;
  }

 private:
  static constexpr size_t kNoFrame = ~size_t{0};
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t frame_end_ = kNoFrame;
};

// Decodes UTF-8 into code points and keeps them as latin-1 bytes; flags any code point > 255.
Item text_from_utf8(ByteView view, size_t offset, bool allow_surrogates = true) {
  Item item(Kind::kText);
  item.text.reserve(view.size);
  size_t i = 0;
  while (i < view.size) {
    uint8_t lead = view.data[i];
    uint32_t cp = 0;
    int extra = 0;
    if (lead < 0x80) { cp = lead; }
    else if ((lead & 0xE0) == 0xC0) { cp = lead & 0x1F; extra = 1; }
    else if ((lead & 0xF0) == 0xE0) { cp = lead & 0x0F; extra = 2; }
    else if ((lead & 0xF8) == 0xF0) { cp = lead & 0x07; extra = 3; }
    else FACEID_CHECK_DATA(false, "invalid UTF-8 in pickle string at offset ", offset + i);
    FACEID_CHECK_DATA(i + extra < view.size, "invalid UTF-8 in pickle string at offset ", offset + i);
    for (int k = 1; k <= extra; ++k) {
      uint8_t next = view.data[i + k];
      FACEID_CHECK_DATA((next & 0xC0) == 0x80, "invalid UTF-8 in pickle string at offset ", offset + i);
      cp = (cp << 6) | (next & 0x3F);
    }
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    FACEID_CHECK_DATA(cp >= kMin[extra] && cp <= 0x10FFFF && (allow_surrogates || cp < 0xD800 || cp > 0xDFFF),
                      "invalid UTF-8 in pickle string at offset ", offset + i);
    if (cp > 0xFF) item.text_is_latin1 = false;
    item.text.push_back(static_cast<char>(cp & 0xFF));
    i += extra + 1;
  }
  return item;
}

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Protocol 0 UNICODE argument: raw-unicode-escape (bytes are code points; \uXXXX, \UXXXXXXXX).
Item text_from_raw_unicode_escape(ByteView view, size_t offset) {
  Item item(Kind::kText);
  size_t i = 0;
  while (i < view.size) {
    uint8_t c = view.data[i++];
    if (c != '\\' || i >= view.size) { item.text.push_back(static_cast<char>(c)); continue; }
    uint8_t kind = view.data[i++];
    if (kind != 'u' && kind != 'U') {
      item.text.push_back('\\');
      item.text.push_back(static_cast<char>(kind));
      continue;
    }
    size_t digits = kind == 'u' ? 4 : 8;
    FACEID_CHECK_DATA(i + digits <= view.size, "truncated \\", static_cast<char>(kind),
                      " escape in pickle string at offset ", offset + i);
    uint32_t cp = 0;
    for (size_t k = 0; k < digits; ++k) {
      int h = hex_value(view.data[i + k]);
      FACEID_CHECK_DATA(h >= 0, "bad \\u escape in pickle string at offset ", offset + i);
      cp = (cp << 4) | static_cast<uint32_t>(h);
    }
    FACEID_CHECK_DATA(cp <= 0x10FFFF, "\\U escape out of range in pickle string at offset ", offset + i);
    i += digits;
    if (cp > 0xFF) item.text_is_latin1 = false;
    item.text.push_back(static_cast<char>(cp & 0xFF));
  }
  return item;
}

// Protocol 0 STRING argument: a quoted literal decoded like codecs.escape_decode.
void decode_escaped_string(ByteView line, size_t offset, std::string* out) {
  FACEID_CHECK_DATA(line.size >= 2 && line.data[0] == line.data[line.size - 1] &&
                        (line.data[0] == '\'' || line.data[0] == '"'),
                    "pickle STRING argument at offset ", offset, " is not quoted");
  const uint8_t* s = line.data + 1;
  const size_t n = line.size - 2;
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i++];
    if (c != '\\') { out->push_back(static_cast<char>(c)); continue; }
    FACEID_CHECK_DATA(i < n, "trailing \\ in pickle STRING at offset ", offset);
    uint8_t e = s[i++];
    switch (e) {
      case '\\': out->push_back('\\'); break;
      case '\'': out->push_back('\''); break;
      case '"': out->push_back('"'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 'v': out->push_back('\v'); break;
      case 'a': out->push_back('\a'); break;
      case 'x': {
        int hi = i < n ? hex_value(s[i]) : -1;
        int lo = i + 1 < n ? hex_value(s[i + 1]) : -1;
        FACEID_CHECK_DATA(hi >= 0 && lo >= 0, "invalid \\x escape in pickle STRING at offset ", offset);
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default: {
        FACEID_CHECK_DATA(e >= '0' && e <= '7', "unsupported escape in pickle STRING at offset ", offset);
        unsigned value = e - '0';
        for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; ++k) value = value * 8 + (s[i++] - '0');
        FACEID_CHECK_DATA(value <= 0377, "octal escape above \\377 in pickle STRING at offset ", offset);
        out->push_back(static_cast<char>(value));
      }
    }
  }
}

class BytesPickleParser {
 public:
  BytesPickleParser(const uint8_t* data, size_t size, std::string* storage) : in_(data, size), storage_(storage) {}

  ByteView run() {
    for (;;) {
      size_t at = in_.offset();
      uint8_t op = in_.opcode();
      if (op == '.') return finish(at);
      step(op, at);
    }
  }

 private:
  ByteView finish(size_t at) {
    FACEID_CHECK_DATA(stack_.size() == 1 && stack_[0].kind == Kind::kBytes,
                      "pickle does not leave exactly one bytes object (STOP at offset ", at, ")");
    FACEID_CHECK_DATA(in_.at_end(), "pickle has ", in_.remaining(), " trailing bytes after STOP at offset ", at);
    return stack_[0].bytes;
  }

  void push(Item item, size_t at) {
    FACEID_CHECK_DATA(stack_.size() < kMaxStack, "pickle at offset ", at, " needs more than ", kMaxStack,
                      " stack entries; not a pickled bytes object");
    stack_.push_back(std::move(item));
  }
  void push_bytes(ByteView view, size_t at) {
    Item item(Kind::kBytes);
    item.bytes = view;
    push(std::move(item), at);
  }
  // Bytes that had to be converted live in the caller's storage; only one such value can be the result.
  void push_owned_bytes(std::string text, size_t at) {
    FACEID_CHECK_DATA(storage_->empty(), "pickle at offset ", at, " holds more than one converted string");
    *storage_ = std::move(text);
    push_bytes(ByteView{reinterpret_cast<const uint8_t*>(storage_->data()), storage_->size()}, at);
  }
  Item pop(Kind kind, const char* what, size_t at) {
    FACEID_CHECK_DATA(!stack_.empty() && stack_.back().kind != Kind::kMark, "pickle opcode at offset ", at,
                      " expects ", what, " on the stack");
    FACEID_CHECK_DATA(stack_.back().kind == kind, "pickle opcode at offset ", at, " expects ", what,
                      " on the stack");
    Item item = std::move(stack_.back());
    stack_.pop_back();
    return item;
  }
  void memo(uint64_t arg_bytes, size_t at) {
    in_.take(arg_bytes);
    FACEID_CHECK_DATA(!stack_.empty() && stack_.back().kind != Kind::kMark, "pickle memo opcode at offset ", at,
                      " with no item above the last mark");
  }

  void step(uint8_t op, size_t at) {
    switch (op) {
      case 0x80: return proto(at);
      case 0x95: return in_.open_frame(in_.little_endian(8), at);  // FRAME
      case 'p': return put(at);
      case 'q': return memo(1, at);     // BINPUT
      case 'r': return memo(4, at);     // LONG_BINPUT
      case 0x94: return memo(0, at);    // MEMOIZE
      case 'C': return push_bytes(in_.take(in_.little_endian(1)), at);   // SHORT_BINBYTES
      case 'B': return push_bytes(in_.take(in_.little_endian(4)), at);   // BINBYTES
      case 0x8e: return push_bytes(in_.take(in_.little_endian(8)), at);  // BINBYTES8
      case 'U': return push_bytes(in_.take(in_.little_endian(1)), at);   // SHORT_BINSTRING (py2 str)
      case 'T': {  // BINSTRING (py2 str); the length is signed
        uint64_t len = in_.little_endian(4);
        FACEID_CHECK_DATA(len < 0x80000000ull, "negative BINSTRING length at offset ", at);
        return push_bytes(in_.take(len), at);
      }
      case 'S': {  // STRING (py2 str, quoted)
        std::string decoded;
        decode_escaped_string(in_.line(), at, &decoded);
        return push_owned_bytes(std::move(decoded), at);
      }
      case 'X': return push(text_from_utf8(in_.take(in_.little_endian(4)), at), at);
      case 0x8c: return push(text_from_utf8(in_.take(in_.little_endian(1)), at), at);
      case 0x8d: return push(text_from_utf8(in_.take(in_.little_endian(8)), at), at);
      case 'V': return push(text_from_raw_unicode_escape(in_.line(), at), at);
      case 'c': {  // GLOBAL: module and name, each on its own line (read in this order)
        ByteView module = in_.line();
        ByteView name = in_.line();
        return global(std::string(reinterpret_cast<const char*>(module.data), module.size),
                      std::string(reinterpret_cast<const char*>(name.data), name.size), at);
      }
      case 0x93: return stack_global(at);
      case '(': return push(Item(Kind::kMark), at);
      case ')': return push(Item(Kind::kTuple), at);  // EMPTY_TUPLE
      case 't': return tuple_from_mark(at);
      case 0x86: return tuple2(at);
      case 'R': return reduce(at);
      default:
        FACEID_CHECK_DATA(false, "pickle opcode 0x", std::hex, int(op), std::dec, " at offset ", at,
                          " is not allowed in an image .bin (only one bytes object may be encoded)");
    }
  }

  void proto(size_t at) {
    FACEID_CHECK_DATA(at == 0, "PROTO opcode at offset ", at, " is not at the start");
    protocol_ = static_cast<int>(in_.little_endian(1));
    FACEID_CHECK_DATA(protocol_ <= 5, "unsupported pickle protocol ", protocol_);
  }

  void put(size_t at) {
    ByteView digits = in_.line();
    bool ok = digits.size > 0 && digits.size <= 18;
    for (size_t i = 0; ok && i < digits.size; ++i) ok = digits.data[i] >= '0' && digits.data[i] <= '9';
    FACEID_CHECK_DATA(ok, "PUT at offset ", at, " needs a decimal memo index");
    memo(0, at);
  }

  void global(const std::string& module, const std::string& name, size_t at) {
    if (module == "_codecs" && name == "encode") return push(Item(Kind::kGlobalEncode), at);
    if (name == "bytes" && (module == "builtins" || (module == "__builtin__" && protocol_ < 3)))
      return push(Item(Kind::kGlobalBytes), at);
    FACEID_CHECK_DATA(false, "pickle refers to a global at offset ", at,
                      " other than _codecs.encode / bytes; refusing it");
  }

  void stack_global(size_t at) {
    Item name = pop(Kind::kText, "a name", at);
    Item module = pop(Kind::kText, "a module name", at);
    // A name with code points above 255 cannot equal an allowed one.
    if (!module.text_is_latin1 || !name.text_is_latin1) module.text.clear();
    global(module.text, name.text, at);
  }

  void tuple_from_mark(size_t at) {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1].kind != Kind::kMark) --mark;
    FACEID_CHECK_DATA(mark > 0, "TUPLE at offset ", at, " without a MARK");
    Item tuple(Kind::kTuple);
    for (size_t k = mark; k < stack_.size(); ++k) tuple.items.push_back(std::move(stack_[k]));
    stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(mark - 1), stack_.end());  // items and mark
    push(std::move(tuple), at);
  }

  void tuple2(size_t at) {
    const size_t n = stack_.size();
    FACEID_CHECK_DATA(n >= 2 && stack_[n - 1].kind != Kind::kMark && stack_[n - 2].kind != Kind::kMark,
                      "TUPLE2 at offset ", at, " needs two items above the last mark");
    Item tuple(Kind::kTuple);
    tuple.items.push_back(std::move(stack_[n - 2]));
    tuple.items.push_back(std::move(stack_[n - 1]));
    stack_.erase(stack_.end() - 2, stack_.end());
    push(std::move(tuple), at);
  }

  void reduce(size_t at) {
    Item args = pop(Kind::kTuple, "an argument tuple", at);
    FACEID_CHECK_DATA(!stack_.empty() && (stack_.back().kind == Kind::kGlobalBytes ||
                                          stack_.back().kind == Kind::kGlobalEncode),
                      "REDUCE at offset ", at, " without an allowed callable");
    const Kind callable = stack_.back().kind;
    stack_.pop_back();
    if (callable == Kind::kGlobalBytes) {
      FACEID_CHECK_DATA(args.items.empty(), "bytes() at offset ", at, " called with arguments");
      return push_bytes(ByteView{}, at);
    }
    FACEID_CHECK_DATA(args.items.size() == 2 && args.items[0].kind == Kind::kText &&
                          args.items[1].kind == Kind::kText && args.items[1].text_is_latin1 &&
                          (args.items[1].text == "latin1" || args.items[1].text == "latin-1"),
                      "REDUCE at offset ", at, " is not _codecs.encode(text, 'latin1')");
    FACEID_CHECK_DATA(args.items[0].text_is_latin1, "_codecs.encode at offset ", at,
                      ": text has characters beyond latin-1");
    push_owned_bytes(std::move(args.items[0].text), at);
  }

  Cursor in_;
  std::string* storage_;
  std::vector<Item> stack_;
  int protocol_ = 0;
};

}  // namespace

ByteView parse_pickled_bytes(const uint8_t* data, size_t size, std::string* storage) {
  storage->clear();
  return BytesPickleParser(data, size, storage).run();
}

ByteView parse_kv_record(const uint8_t* data, size_t size, std::string* storage, std::string* key) {
  Cursor in(data, size);
  FACEID_CHECK_DATA(size >= 4, "kv record truncated: ", size, " bytes, need at least 4 for the key length");
  uint64_t key_len = in.little_endian(4);
  FACEID_CHECK_DATA(key_len <= kMaxKvKeyLength, "kv record key length ", key_len, " exceeds ", kMaxKvKeyLength,
                    " (not a kv .bin file?)");
  FACEID_CHECK_DATA(key_len <= in.remaining(), "kv record truncated in the key: ", key_len, " bytes announced, ",
                    in.remaining(), " left");
  ByteView key_view = in.take(key_len);
  text_from_utf8(key_view, 4, /*allow_surrogates=*/false);  // the key must be valid UTF-8
  if (key != nullptr) key->assign(reinterpret_cast<const char*>(key_view.data), key_view.size);
  FACEID_CHECK_DATA(in.remaining() >= 4, "kv record truncated before the value length");
  uint64_t value_len = in.little_endian(4);
  FACEID_CHECK_DATA(value_len <= in.remaining(), "kv record truncated in the value: ", value_len,
                    " bytes announced, ", in.remaining(), " left");
  ByteView value = in.take(value_len);
  return parse_pickled_bytes(value.data, value.size, storage);
}

}  // namespace faceid
