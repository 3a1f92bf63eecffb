// io/pbfs_encoder.cc — see pbfs_encoder.h.

#include "io/pbfs_encoder.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "io/crc32.h"
#include "io/pbfs_format.h"

namespace sift_stream::io {

PbfsChunkEncoder::PbfsChunkEncoder() { Reset(); }

absl::Status PbfsChunkEncoder::Add(absl::string_view message) {
  if (message.size() > kPbfsMaxMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBFS message of ", message.size(), " bytes exceeds the frame limit of ",
                     kPbfsMaxMessageBytes, " bytes; split it before backing it up"));
  }
  char frame_header[kPbfsFrameHeaderBytes];
  pbfs_internal::StoreLittleEndian32(static_cast<uint32_t>(message.size()), frame_header);
  buffer_.append(frame_header, kPbfsFrameHeaderBytes);
  buffer_.append(message.data(), message.size());
  ++message_count_;
  return absl::OkStatus();
}

absl::string_view PbfsChunkEncoder::Seal() {
  char* chunk = &buffer_[0];
  const uint64_t frames_bytes = buffer_.size() - kPbfsChunkHeaderBytes;
  pbfs_internal::StoreLittleEndian64(frames_bytes, chunk + kPbfsCrcBytes);
  // The CRC covers the length field too, so it can only be computed once that is in place.
  const absl::string_view covered = absl::string_view(buffer_).substr(kPbfsCrcBytes);
  pbfs_internal::StoreLittleEndian32(Crc32(covered), chunk);
  return buffer_;
}

void PbfsChunkEncoder::Reset() {
  // resize() down keeps the capacity; the placeholder is overwritten by Seal().
  buffer_.resize(kPbfsChunkHeaderBytes);
  message_count_ = 0;
}

absl::StatusOr<std::string> EncodePbfsChunk(absl::Span<const std::string> messages) {
  PbfsChunkEncoder encoder;
  for (const std::string& message : messages) {
    if (absl::Status status = encoder.Add(message); !status.ok()) return status;
  }
  return std::string(encoder.Seal());
}

}  // namespace sift_stream::io
