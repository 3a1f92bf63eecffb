// io/pbfs_reader.h — reads PBFS backup files back and says exactly how, and where, they end.
//
// A backup file is only useful after something went wrong, so this reader's main job is to
// tell the three ways a file can end apart (format: io/pbfs_format.h):
//
//   kClean     the last chunk ends exactly at end of file; every message was returned.
//   kTornTail  the file ends in what a crash mid-write leaves behind: a chunk cut short, a
//              chunk whose final sectors read back as zeros, or zeros where the next chunk
//              should start (an O_DIRECT write's in-flight padding). Every message before it
//              was returned; truncating the file to `good_end_offset` makes it clean again.
//   kCorrupt   damage a crash does not explain: a bad chunk with an intact chunk somewhere
//              after it, a CRC mismatch over data that is not a zeroed tail, or a chunk whose
//              CRC matches but whose frames do not tile it exactly (a writer bug).
//
// A chunk is intact when its header's length fits in the file, its CRC matches, and its
// frames tile it exactly. A chunk at offset X that is not intact is a torn tail only if no
// intact chunk starts anywhere after X and it is cut short by end of file, or everything from
// X on is zero, or the zeros running to end of file cover a 512-byte sector boundary inside
// the chunk (O_DIRECT tears whole sectors; a chunk that merely ends in a few zero-valued
// bytes and fails its CRC is corruption, not a tear).
//
// Two modes. kStrict stops at the first chunk that is not intact, after returning every
// message before it, as Sift's own reader does (it still looks ahead to classify the end).
// kSalvage scans forward byte by byte for the next intact chunk, resumes there, and counts
// what it stepped over. The scan computes a CRC only for candidates whose length fits in the
// file and whose first frame fits in that length, and never looks inside a zero-filled tail,
// so it stays linear in practice.
//
// Memory: a file is read with pread() through a window of 1 MiB or one chunk, whichever is
// larger, never past the file's size as it was at open; a header claiming 2^60 bytes is
// reported, not allocated. Bytes appended after the reader opened the file are not seen.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<io::PbfsReader>> reader =
//       io::PbfsReader::OpenFile(path, io::PbfsReadMode::kStrict);
//   if (!reader.ok()) return reader.status();
//   absl::string_view message;
//   while ((*reader)->Next(&message)) Replay(message);  // `message` dies at the next Next()
//   if (!(*reader)->status().ok()) return (*reader)->status();  // I/O error, not damage
//   const io::PbfsReadReport& report = (*reader)->report();
//   if (report.end != io::PbfsEnd::kClean) LOG(WARNING) << report.problem;
//
// Thread-safety: none; one reader belongs to one thread at a time.

#ifndef SIFT_STREAM_IO_PBFS_READER_H_
#define SIFT_STREAM_IO_PBFS_READER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::io {
namespace pbfs_internal {
class ByteSource;
}  // namespace pbfs_internal

enum class PbfsReadMode {
  kStrict,   // Stop at the first chunk that is not intact.
  kSalvage,  // Skip to the next intact chunk and keep going.
};

// How the readable data ended; see the file comment. When several problems were met (salvage
// mode), kCorrupt wins over kTornTail, which wins over kClean.
enum class PbfsEnd { kClean, kTornTail, kCorrupt };

// "clean", "torn tail" or "corrupt", for logs and test failure messages.
absl::string_view PbfsEndName(PbfsEnd end);

// What a read found. Offsets and sizes are in bytes from the start of the file. Complete once
// Next() has returned false; before that it describes the part read so far. Every byte of the
// file is counted exactly once: bytes_read + bytes_skipped + tail_bytes == file_size_bytes.
struct PbfsReadReport {
  PbfsEnd end = PbfsEnd::kClean;
  uint64_t file_size_bytes = 0;
  // Just past the last intact chunk read (0 if none). After kTornTail, the length to truncate
  // the file to before appending to it; after salvage, corrupt regions may lie before it.
  uint64_t good_end_offset = 0;
  uint64_t messages_read = 0;
  uint64_t chunks_read = 0;
  uint64_t bytes_read = 0;  // Bytes of the intact chunks read, headers included.
  // Salvage mode only: damaged regions stepped over (or, at the very end, given up on), each
  // a maximal run of bytes between intact chunks that is not a torn tail.
  uint64_t regions_skipped = 0;
  uint64_t bytes_skipped = 0;
  // Bytes at the end of the file that were not read: a torn tail, or in strict mode
  // everything from the first problem on.
  uint64_t tail_bytes = 0;
  // The first problem met, with the byte offset of the chunk it was found in, e.g. "chunk at
  // offset 4096 (2040 bytes of frames): CRC mismatch, stored 0x1c2f0e55, computed 0x9a07d1e3;
  // next intact chunk at offset 6148". Empty iff end == kClean.
  std::string problem;
  uint64_t problem_offset = 0;
};

// Reads messages one at a time from a PBFS file or byte string.
class PbfsReader {
 public:
  // Opens the regular file at `path`. Errors: NotFound (naming the path) if it does not exist,
  // FailedPrecondition if it is not a regular file, other errno-derived codes from open/fstat.
  static absl::StatusOr<std::unique_ptr<PbfsReader>> OpenFile(const std::string& path,
                                                              PbfsReadMode mode);

  // Reads from memory; `bytes` must outlive the reader. For tests and tools.
  static std::unique_ptr<PbfsReader> FromBytes(absl::string_view bytes, PbfsReadMode mode);

  PbfsReader(const PbfsReader&) = delete;
  PbfsReader& operator=(const PbfsReader&) = delete;
  ~PbfsReader();  // Closes the file, if any.

  // Sets `*message` to the next message of an intact chunk and returns true, or returns false
  // when there are no more: the end of the file, the first problem in strict mode, or an I/O
  // error (see status()). The bytes stay valid until the next call to Next() or the reader's
  // destruction; copy them to keep them. Calling Next() again after false returns false.
  bool Next(absl::string_view* message);

  // OK unless reading failed (pread error, or the file shrank under the reader). Damage to
  // the data is never an error here: it is described by report().
  const absl::Status& status() const { return status_; }

  const PbfsReadReport& report() const { return report_; }

 private:
  struct Verdict;

  PbfsReader(std::unique_ptr<pbfs_internal::ByteSource> source, PbfsReadMode mode);

  absl::Status ReadNextChunk();
  absl::Status HandleDamage(uint64_t offset, const Verdict& verdict, std::string problem);
  absl::StatusOr<Verdict> Examine(uint64_t offset, std::string* problem);
  absl::StatusOr<uint32_t> CrcOfRange(uint64_t offset, uint64_t length);
  absl::StatusOr<std::optional<uint64_t>> FindIntactChunkAfter(uint64_t offset);
  absl::StatusOr<bool> LooksTorn(uint64_t offset, const Verdict& verdict);
  absl::StatusOr<uint64_t> ZeroTailStart();
  void NoteProblem(uint64_t offset, PbfsEnd end, std::string problem);

  std::unique_ptr<pbfs_internal::ByteSource> source_;
  const PbfsReadMode mode_;
  uint64_t next_chunk_offset_ = 0;  // Where the next chunk header is expected.
  absl::string_view frames_;        // Unread frames of the current chunk, already validated.
  std::optional<uint64_t> zero_tail_start_;  // Start of the zero run ending the file; lazy.
  bool done_ = false;
  absl::Status status_;
  PbfsReadReport report_;
};

// A whole file's messages, copied, with the report. For tests and tools.
struct PbfsContents {
  std::vector<std::string> messages;
  PbfsReadReport report;
};

// Reads every message from the file at `path` (errors as OpenFile(), or an I/O error).
absl::StatusOr<PbfsContents> ReadPbfsFile(const std::string& path, PbfsReadMode mode);

// Reads every message from `bytes`.
absl::StatusOr<PbfsContents> ReadPbfsBytes(absl::string_view bytes, PbfsReadMode mode);

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_PBFS_READER_H_
