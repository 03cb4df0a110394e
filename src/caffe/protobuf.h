// The protocol buffers wire format, as much as Caffe's files need: a reader that walks the fields
// of one message (field number, wire type, value) and a writer that appends them. No schema and no
// libprotobuf: caffemodel.cpp knows Caffe's field numbers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deeplab::caffe {

enum class WireType { varint = 0, fixed64 = 1, bytes = 2, fixed32 = 5 };

struct Field {
  uint32_t number = 0;
  WireType type = WireType::varint;
  uint64_t varint = 0;         // varint, and the raw bits of fixed32/fixed64
  std::string_view bytes;      // length-delimited: strings, embedded messages, packed arrays
};

// Reads the fields of one message in order. Malformed input (a length past the end, a varint
// over 10 bytes, an unknown wire type) throws Error naming `what` and the byte offset.
class MessageReader {
 public:
  MessageReader(std::string_view data, std::string what) : data_(data), what_(std::move(what)) {}
  bool next(Field& field);  // false at the end of the message
  const std::string& what() const { return what_; }

 private:
  uint64_t varint();
  std::string_view data_;
  size_t at_ = 0;
  std::string what_;
};

// A repeated float field, packed (one bytes field) or not (one fixed32 field per value).
void append_floats(const Field& field, std::vector<float>& out, const std::string& what);
// A repeated int64/int32 field, packed or not.
void append_ints(const Field& field, std::vector<int64_t>& out, const std::string& what);

class MessageWriter {
 public:
  void varint_field(uint32_t number, uint64_t value);
  void bytes_field(uint32_t number, std::string_view bytes);  // strings and embedded messages
  void packed_floats(uint32_t number, const float* values, size_t count);
  void packed_ints(uint32_t number, const std::vector<int64_t>& values);
  const std::string& bytes() const { return out_; }

 private:
  void tag(uint32_t number, WireType type);
  void raw_varint(uint64_t value);
  std::string out_;
};

}  // namespace deeplab::caffe
