#include "image/kvbin.h"

#include <cstring>
#include <vector>

#include "common/check.h"

namespace faceid {
namespace {

enum class Kind { kBytes, kText, kGlobalEncode, kGlobalBytes, kMark, kTuple, kEmptyTuple };

// One value on the parser's small stack.
struct Item {
  explicit Item(Kind k) : kind(k) {}
  Kind kind;
  std::string text;  // kText: the string as UTF-8 / latin-1 code points already decoded to bytes
  bool text_is_latin1 = true;  // kText: every code point fits in one byte
  ByteView bytes;   // kBytes
  size_t arity = 0;  // kTuple
};

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t offset() const { return pos_; }
  bool at_end() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }

  uint8_t byte() {
    FACEID_CHECK_DATA(pos_ < size_, "pickle truncated at offset ", pos_);
    return data_[pos_++];
  }
  uint64_t little_endian(int width) {
    FACEID_CHECK_DATA(remaining() >= static_cast<size_t>(width), "pickle truncated at offset ", pos_,
                      ": needs a ", width, "-byte length");
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) value |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += width;
    return value;
  }
  ByteView take(uint64_t count) {
    FACEID_CHECK_DATA(count <= remaining(), "pickle truncated at offset ", pos_, ": ", count,
                      " bytes announced, ", remaining(), " left");
    ByteView view{data_ + pos_, static_cast<size_t>(count)};
    pos_ += static_cast<size_t>(count);
    return view;
  }
  // A text argument ending in '\n' (protocol 0); the newline is consumed, not returned.
  ByteView line() {
    const void* nl = std::memchr(data_ + pos_, '\n', remaining());
    FACEID_CHECK_DATA(nl != nullptr, "pickle truncated at offset ", pos_, ": missing end of line");
    size_t len = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    ByteView view{data_ + pos_, len};
    pos_ += len + 1;
    return view;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

bool equals(ByteView view, const char* text) {
  size_t n = std::strlen(text);
  return view.size == n && std::memcmp(view.data, text, n) == 0;
}

// Decodes UTF-8 into code points and keeps them as latin-1 bytes; flags any code point > 255.
Item text_from_utf8(ByteView view, size_t offset) {
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
    FACEID_CHECK_DATA(cp >= kMin[extra] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF),
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
      case '\n': break;
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
      default:
        if (e >= '0' && e <= '7') {
          unsigned value = e - '0';
          for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; ++k) value = value * 8 + (s[i++] - '0');
          out->push_back(static_cast<char>(value & 0xFF));
        } else {
          out->push_back('\\');
          out->push_back(static_cast<char>(e));
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
      uint8_t op = in_.byte();
      if (op == '.') return finish(at);
      step(op, at);
      FACEID_CHECK_DATA(stack_.size() <= 8, "pickle at offset ", at, " builds more than one bytes object");
    }
  }

 private:
  ByteView finish(size_t at) {
    FACEID_CHECK_DATA(in_.at_end(), "pickle has ", in_.remaining(), " trailing bytes after STOP at offset ", at);
    FACEID_CHECK_DATA(stack_.size() == 1 && stack_[0].kind == Kind::kBytes,
                      "pickle does not hold exactly one bytes object (STOP at offset ", at, ")");
    return stack_[0].bytes;
  }

  void push_bytes(ByteView view) {
    Item item(Kind::kBytes);
    item.bytes = view;
    stack_.push_back(std::move(item));
  }
  void push_owned_bytes(std::string text) {
    FACEID_CHECK_DATA(storage_->empty(), "pickle holds more than one converted string");
    *storage_ = std::move(text);
    push_bytes(ByteView{reinterpret_cast<const uint8_t*>(storage_->data()), storage_->size()});
  }

  void step(uint8_t op, size_t at) {
    switch (op) {
      case 0x80: {  // PROTO
        FACEID_CHECK_DATA(at == 0, "PROTO opcode at offset ", at, " is not at the start");
        uint8_t proto = in_.byte();
        FACEID_CHECK_DATA(proto <= 5, "unsupported pickle protocol ", int(proto));
        return;
      }
      case 0x95: {  // FRAME: the length must fit in what is left
        uint64_t len = in_.little_endian(8);
        FACEID_CHECK_DATA(len <= in_.remaining(), "pickle FRAME at offset ", at, " runs past the end");
        return;
      }
      case 'p': in_.line(); return;                // PUT
      case 'q': in_.byte(); return;                // BINPUT
      case 'r': in_.little_endian(4); return;      // LONG_BINPUT
      case 0x94: return;                           // MEMOIZE
      case 'C': return push_bytes(in_.take(in_.little_endian(1)));  // SHORT_BINBYTES
      case 'B': return push_bytes(in_.take(in_.little_endian(4)));  // BINBYTES
      case 0x8e: return push_bytes(in_.take(in_.little_endian(8)));  // BINBYTES8
      case 'U': return push_bytes(in_.take(in_.little_endian(1)));  // SHORT_BINSTRING (py2 str)
      case 'T': {  // BINSTRING (py2 str); the length is signed
        uint64_t len = in_.little_endian(4);
        FACEID_CHECK_DATA(len < 0x80000000ull, "negative BINSTRING length at offset ", at);
        return push_bytes(in_.take(len));
      }
      case 'S': {  // STRING (py2 str, quoted)
        std::string decoded;
        decode_escaped_string(in_.line(), at, &decoded);
        return push_owned_bytes(std::move(decoded));
      }
      case 'X': return push_text(text_from_utf8(in_.take(in_.little_endian(4)), at));
      case 0x8c: return push_text(text_from_utf8(in_.take(in_.little_endian(1)), at));
      case 0x8d: return push_text(text_from_utf8(in_.take(in_.little_endian(8)), at));
      case 'V': return push_text(text_from_raw_unicode_escape(in_.line(), at));
      case 'c': {  // GLOBAL: module and name, each on its own line (evaluated in order)
        ByteView module = in_.line();
        ByteView name = in_.line();
        return global(module, name, at);
      }
      case 0x93: return stack_global(at);
      case '(': stack_.push_back(Item(Kind::kMark)); return;
      case ')': stack_.push_back(Item(Kind::kEmptyTuple)); return;
      case 't': return tuple_from_mark(at);
      case 0x86: return tuple_of(2, at);
      case 'R': return reduce(at);
      default:
        FACEID_CHECK_DATA(false, "pickle opcode 0x", std::hex, int(op), std::dec, " at offset ", at,
                          " is not allowed in an image .bin (only one bytes object may be encoded)");
    }
  }

  void push_text(Item item) { stack_.push_back(std::move(item)); }

  void global(ByteView module, ByteView name, size_t at) {
    if (equals(module, "_codecs") && equals(name, "encode")) {
      stack_.push_back(Item(Kind::kGlobalEncode));
    } else if ((equals(module, "__builtin__") || equals(module, "builtins")) && equals(name, "bytes")) {
      stack_.push_back(Item(Kind::kGlobalBytes));
    } else {
      FACEID_CHECK_DATA(false, "pickle refers to a global at offset ", at,
                        " other than _codecs.encode / bytes; refusing it");
    }
  }

  void stack_global(size_t at) {
    FACEID_CHECK_DATA(stack_.size() >= 2 && stack_[stack_.size() - 1].kind == Kind::kText &&
                          stack_[stack_.size() - 2].kind == Kind::kText,
                      "STACK_GLOBAL at offset ", at, " without two names");
    Item name = std::move(stack_.back());
    stack_.pop_back();
    Item module = std::move(stack_.back());
    stack_.pop_back();
    auto view = [](const Item& item) {
      return ByteView{reinterpret_cast<const uint8_t*>(item.text.data()), item.text.size()};
    };
    FACEID_CHECK_DATA(module.text_is_latin1 && name.text_is_latin1, "STACK_GLOBAL name at offset ", at, " is not ASCII");
    global(view(module), view(name), at);
  }

  void tuple_of(size_t arity, size_t at) {
    FACEID_CHECK_DATA(stack_.size() >= arity, "TUPLE at offset ", at, " with too few items");
    for (size_t k = stack_.size() - arity; k < stack_.size(); ++k)
      FACEID_CHECK_DATA(stack_[k].kind == Kind::kText, "tuple at offset ", at, " holds something other than text");
    std::vector<Item> items(std::make_move_iterator(stack_.end() - arity), std::make_move_iterator(stack_.end()));
    stack_.erase(stack_.end() - static_cast<std::ptrdiff_t>(arity), stack_.end());
    args_ = std::move(items);
    Item tuple(Kind::kTuple);
    tuple.arity = arity;
    stack_.push_back(std::move(tuple));
  }

  void tuple_from_mark(size_t at) {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1].kind != Kind::kMark) --mark;
    FACEID_CHECK_DATA(mark > 0, "TUPLE at offset ", at, " without a MARK");
    size_t arity = stack_.size() - mark;
    tuple_of(arity, at);
    // remove the MARK that sat below the tuple
    stack_.erase(stack_.end() - 2);
  }

  void reduce(size_t at) {
    FACEID_CHECK_DATA(stack_.size() >= 2, "REDUCE at offset ", at, " with an empty stack");
    Item args = std::move(stack_.back());
    stack_.pop_back();
    Item callable = std::move(stack_.back());
    stack_.pop_back();
    if (callable.kind == Kind::kGlobalBytes) {
      FACEID_CHECK_DATA(args.kind == Kind::kEmptyTuple || (args.kind == Kind::kTuple && args.arity == 0),
                        "bytes() at offset ", at, " called with arguments");
      return push_bytes(ByteView{});
    }
    FACEID_CHECK_DATA(callable.kind == Kind::kGlobalEncode && args.kind == Kind::kTuple && args.arity == 2,
                      "REDUCE at offset ", at, " is not _codecs.encode(text, 'latin1')");
    const Item& encoding = args_[1];
    FACEID_CHECK_DATA(encoding.text == "latin1" || encoding.text == "latin-1",
                      "_codecs.encode at offset ", at, " with an encoding other than latin1");
    FACEID_CHECK_DATA(args_[0].text_is_latin1, "_codecs.encode at offset ", at,
                      ": text has characters beyond latin-1");
    push_owned_bytes(std::move(args_[0].text));
  }

  Cursor in_;
  std::string* storage_;
  std::vector<Item> stack_;
  std::vector<Item> args_;  // the items of the most recent tuple
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
  if (key != nullptr) key->assign(reinterpret_cast<const char*>(key_view.data), key_view.size);
  FACEID_CHECK_DATA(in.remaining() >= 4, "kv record truncated before the value length");
  uint64_t value_len = in.little_endian(4);
  FACEID_CHECK_DATA(value_len <= in.remaining(), "kv record truncated in the value: ", value_len,
                    " bytes announced, ", in.remaining(), " left");
  ByteView value = in.take(value_len);
  return parse_pickled_bytes(value.data, value.size, storage);
}

}  // namespace faceid
