// io/pbfs_encoder.h — batches messages into PBFS chunks (format: io/pbfs_format.h).
//
// `PbfsChunkEncoder` builds one chunk at a time in a buffer it owns. The 12 header bytes are
// reserved up front and each message is framed and appended as it is added, so every message
// is copied exactly once, into its final place; `Seal()` then fills in the length and the CRC
// in place and hands back the finished chunk. `Reset()` starts the next chunk in the same
// memory, so a long-running writer stops allocating once its buffer has grown to its chunk
// size.
//
// How big a chunk gets is the caller's decision, not the encoder's: the backup writer seals
// when `size_bytes()` reaches its target (somewhere in 64 KiB – 1 MiB: large enough that the
// 12-byte header and the per-chunk CRC pass are noise, small enough that a torn chunk loses
// little and a reader's buffer stays small). A single message larger than the target still
// goes into one chunk whole; messages are never split across chunks.
//
// Example:
//
//   io::PbfsChunkEncoder encoder;
//   for (const std::string& message : batch) {
//     if (absl::Status s = encoder.Add(message); !s.ok()) return s;
//     if (encoder.size_bytes() >= kTargetChunkBytes) {
//       Write(encoder.Seal());  // must finish with the bytes before Add() or Reset()
//       encoder.Reset();
//     }
//   }
//
// Thread-safety: none; one encoder belongs to one thread at a time.

#ifndef SIFT_STREAM_IO_PBFS_ENCODER_H_
#define SIFT_STREAM_IO_PBFS_ENCODER_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sift_stream::io {

class PbfsChunkEncoder {
 public:
  // Starts an empty chunk.
  PbfsChunkEncoder();

  PbfsChunkEncoder(const PbfsChunkEncoder&) = delete;
  PbfsChunkEncoder& operator=(const PbfsChunkEncoder&) = delete;
  // A moved-from encoder may only be destroyed, assigned to, or Reset().
  PbfsChunkEncoder(PbfsChunkEncoder&&) = default;
  PbfsChunkEncoder& operator=(PbfsChunkEncoder&&) = default;

  // Appends one framed message to the current chunk, copying its bytes; `message` need not
  // outlive the call but must not point into this encoder's own buffer (appending may move
  // it). An empty message is legal. Returns InvalidArgument, and leaves the
  // chunk unchanged, if the message is longer than kPbfsMaxMessageBytes (its length would
  // not fit the 4-byte frame header). Invalidates the view returned by an earlier Seal().
  absl::Status Add(absl::string_view message);

  // Number of messages in the current chunk.
  size_t message_count() const { return message_count_; }

  // True if the current chunk holds no messages.
  bool empty() const { return message_count_ == 0; }

  // The exact size of the chunk Seal() would return now, header included. Grows by
  // kPbfsFrameHeaderBytes + message.size() per Add().
  size_t size_bytes() const { return buffer_.size(); }

  // Fills in the chunk header and returns the whole chunk, ready to write to a file. The view
  // points into the encoder and stays valid until the next Add(), Reset() or destruction.
  // Sealing does not end the chunk: a later Add() extends it and a later Seal() covers every
  // message added so far. Sealing an empty chunk yields a legal 12-byte chunk with N == 0,
  // which a writer normally has no reason to write.
  absl::string_view Seal();

  // Discards the current chunk and starts an empty one, keeping the buffer's capacity.
  void Reset();

 private:
  std::string buffer_;  // Header placeholder, then the frames, exactly as written to disk.
  size_t message_count_ = 0;
};

// Encodes `messages`, in order, as one complete chunk. For tests and tools; the writer uses
// PbfsChunkEncoder to reuse its buffer. Fails as PbfsChunkEncoder::Add() does.
absl::StatusOr<std::string> EncodePbfsChunk(absl::Span<const std::string> messages);

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_PBFS_ENCODER_H_
