#include "caffe/protobuf.h"

#include <cstring>

#include "core/error.h"

namespace deeplab::caffe {

uint64_t MessageReader::varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (at_ >= data_.size()) fail(what_, ": truncated (a number runs past the end at byte ", at_, ")");
    const uint8_t b = uint8_t(data_[at_++]);
    value |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return value;
  }
  fail(what_, ": malformed number at byte ", at_, " (not a protobuf message?)");
}

bool MessageReader::next(Field& f) {
  if (at_ >= data_.size()) return false;
  const size_t start = at_;
  const uint64_t key = varint();
  f.number = uint32_t(key >> 3);
  const uint32_t type = uint32_t(key & 7);
  if (f.number == 0) fail(what_, ": field number 0 at byte ", start, " (not a protobuf message?)");
  switch (type) {
    case 0:
      f.type = WireType::varint;
      f.varint = varint();
      break;
    case 1:
      if (data_.size() - at_ < 8) fail(what_, ": truncated at byte ", at_);
      f.type = WireType::fixed64;
      std::memcpy(&f.varint, data_.data() + at_, 8);
      at_ += 8;
      break;
    case 2: {
      const uint64_t length = varint();
      if (length > data_.size() - at_)
        fail(what_, ": truncated (field ", f.number, " at byte ", start, " claims ", length, " bytes, ",
             data_.size() - at_, " remain)");
      f.type = WireType::bytes;
      f.bytes = data_.substr(at_, size_t(length));
      at_ += size_t(length);
      break;
    }
    case 5: {
      if (data_.size() - at_ < 4) fail(what_, ": truncated at byte ", at_);
      uint32_t bits;
      std::memcpy(&bits, data_.data() + at_, 4);
      f.type = WireType::fixed32;
      f.varint = bits;
      at_ += 4;
      break;
    }
    default:
      fail(what_, ": unknown wire type ", type, " at byte ", start, " (not a protobuf message?)");
  }
  return true;
}

void append_floats(const Field& f, std::vector<float>& out, const std::string& what) {
  if (f.type == WireType::fixed32) {
    uint32_t bits = uint32_t(f.varint);
    float v;
    std::memcpy(&v, &bits, 4);
    out.push_back(v);
  } else if (f.type == WireType::bytes) {
    if (f.bytes.size() % 4) fail(what, ": a packed float array of ", f.bytes.size(), " bytes");
    const size_t n = f.bytes.size() / 4, old = out.size();
    out.resize(old + n);
    std::memcpy(out.data() + old, f.bytes.data(), f.bytes.size());  // little-endian, as the wire is
  } else {
    fail(what, ": field ", f.number, " should hold floats");
  }
}

void append_ints(const Field& f, std::vector<int64_t>& out, const std::string& what) {
  if (f.type == WireType::varint) {
    out.push_back(int64_t(f.varint));
  } else if (f.type == WireType::bytes) {
    // A packed array is a run of bare varints.
    size_t at = 0;
    while (at < f.bytes.size()) {
      uint64_t value = 0;
      int shift = 0;
      while (true) {
        if (at >= f.bytes.size() || shift > 63) fail(what, ": malformed packed integers in field ", f.number);
        const uint8_t b = uint8_t(f.bytes[at++]);
        value |= uint64_t(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
      }
      out.push_back(int64_t(value));
    }
  } else {
    fail(what, ": field ", f.number, " should hold integers");
  }
}

void MessageWriter::raw_varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out_.push_back(char(v));
}

void MessageWriter::tag(uint32_t number, WireType type) { raw_varint((uint64_t(number) << 3) | uint32_t(type)); }

void MessageWriter::varint_field(uint32_t number, uint64_t value) {
  tag(number, WireType::varint);
  raw_varint(value);
}

void MessageWriter::bytes_field(uint32_t number, std::string_view bytes) {
  tag(number, WireType::bytes);
  raw_varint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

void MessageWriter::packed_floats(uint32_t number, const float* values, size_t count) {
  bytes_field(number, std::string_view(reinterpret_cast<const char*>(values), count * 4));
}

void MessageWriter::packed_ints(uint32_t number, const std::vector<int64_t>& values) {
  MessageWriter inner;
  for (int64_t v : values) inner.raw_varint(uint64_t(v));
  bytes_field(number, inner.bytes());
}

}  // namespace deeplab::caffe
