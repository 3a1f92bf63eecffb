// engine/wire_format.h — the few pieces of protobuf's wire format that the engine writes by
// hand, so that Send() and FlowWriter build no protobuf object per message
// (RequestBuilder::Encode, FlowWriter::EncodeTo). Both are tested byte for byte against
// protobuf's own serializer. Writers take a pointer into room the caller made and return the
// end of what they wrote.

#ifndef SIFT_STREAM_ENGINE_WIRE_FORMAT_H_
#define SIFT_STREAM_ENGINE_WIRE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace sift_stream::engine::wire {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "doubles and floats are copied as the wire's little-endian bytes");

inline constexpr uint32_t kVarint = 0;
inline constexpr uint32_t k64Bit = 1;
inline constexpr uint32_t kLengthDelimited = 2;
inline constexpr uint32_t k32Bit = 5;
inline constexpr size_t kMaxVarintBytes = 10;

inline size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

inline char* PutVarint(uint64_t value, char* p) {
  while (value >= 0x80) {
    *p++ = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<char>(value);
  return p;
}

// A one-byte tag: for field numbers below 16, which every field written by hand is.
inline char* PutTag(uint32_t field, uint32_t wire_type, char* p) {
  *p++ = static_cast<char>((field << 3) | wire_type);
  return p;
}

inline char* PutString(uint32_t field, absl::string_view bytes, char* p) {
  p = PutTag(field, kLengthDelimited, p);
  p = PutVarint(bytes.size(), p);
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

}  // namespace sift_stream::engine::wire

#endif  // SIFT_STREAM_ENGINE_WIRE_FORMAT_H_
