// io/pbfs_source.h — random access to the bytes of a PBFS file, for io/pbfs_reader.h only.
//
// `ByteSource` hands out read-only views of [offset, offset + length) of either a caller's
// byte string (no copy) or a regular file. A file is read with pread() into one window that
// is refilled on a miss: kWindowBytes at a time, or one request's length if larger, and never
// past the size the file had when it was opened. Requests are checked against that size, so
// a corrupt length field can cost at most the file's own size in memory, never more.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<ByteSource>> source = ByteSource::OpenFile(path);
//   if (!source.ok()) return source.status();
//   absl::StatusOr<absl::string_view> header = (*source)->Peek(0, 12);  // until next Peek()
//
// Thread-safety: none.

#ifndef SIFT_STREAM_IO_PBFS_SOURCE_H_
#define SIFT_STREAM_IO_PBFS_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::io::pbfs_internal {

class ByteSource {
 public:
  // How much one pread() fill asks for when the request is smaller: enough that reading or
  // scanning a file sequentially is a few large reads, not one per chunk or per byte.
  static constexpr uint64_t kWindowBytes = uint64_t{1} << 20;

  // Opens the regular file at `path` and takes its size. Errors: NotFound (naming the path)
  // if it does not exist, FailedPrecondition if it is not a regular file, others from errno.
  static absl::StatusOr<std::unique_ptr<ByteSource>> OpenFile(const std::string& path);

  // Reads `bytes`, which must outlive the source.
  explicit ByteSource(absl::string_view bytes);

  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource();  // Closes the file, if any.

  uint64_t size() const { return size_; }

  // Returns bytes [offset, offset + length), valid until the next Peek() or destruction.
  // A range past size() is a bug in the caller: InternalError, nothing read. Reading a file
  // can fail with an errno-derived error, or Aborted if the file shrank since it was opened.
  absl::StatusOr<absl::string_view> Peek(uint64_t offset, uint64_t length);

 private:
  ByteSource(int fd, uint64_t size, std::string path);
  absl::Status Fill(uint64_t offset, uint64_t length);

  int fd_ = -1;              // -1 when reading memory.
  absl::string_view bytes_;  // When reading memory.
  uint64_t size_ = 0;
  std::string path_;
  std::string window_;  // When reading a file: [window_offset_, + window_.size()).
  uint64_t window_offset_ = 0;
};

}  // namespace sift_stream::io::pbfs_internal

#endif  // SIFT_STREAM_IO_PBFS_SOURCE_H_
