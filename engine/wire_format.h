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

// Reads a varint at `*p` (before `end`) into `*value`; false if it runs past `end` or past
// ten bytes.
inline bool GetVarint(const char** p, const char* end, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*(*p)++);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *value = result;
      return true;
    }
  }
  return false;
}

// Whether `bytes` are a sequence of well-formed fields: each tag names a field number of at
// least 1 and a wire type proto3 uses, and each value fits in what is left. The contents of
// length-delimited fields are not checked. A frame that passes its CRC was written so, and
// one that fails this check was never a serialized message: re-ingestion skips it rather
// than sending Sift something it can only refuse, for ever.
inline bool IsWellFormedMessage(absl::string_view bytes) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    uint64_t tag = 0;
    if (!GetVarint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    uint64_t length = 0;
    switch (static_cast<uint32_t>(tag & 7)) {
      case kVarint:
        if (!GetVarint(&p, end, &length)) return false;
        break;
      case k64Bit:
        if (end - p < 8) return false;
        p += 8;
        break;
      case k32Bit:
        if (end - p < 4) return false;
        p += 4;
        break;
      case kLengthDelimited:
        if (!GetVarint(&p, end, &length) || length > static_cast<uint64_t>(end - p)) {
          return false;
        }
        p += length;
        break;
      default:
        return false;  // Groups (3, 4) and the unused types 6 and 7.
    }
  }
  return true;
}

}  // namespace sift_stream::engine::wire

#endif  // SIFT_STREAM_ENGINE_WIRE_FORMAT_H_
