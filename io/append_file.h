// io/append_file.h — an append-only file written with O_DIRECT through a Ring.
//
// Backups are written once, sequentially, and read back only after a failure, so they bypass
// the page cache: O_DIRECT keeps a high-rate writer from filling memory with dirty pages and
// makes the cost of a write visible where it happens. O_DIRECT demands aligned memory, offsets
// and lengths; AppendFile hides that. Bytes appended are copied once into one of a few aligned
// buffers it owns; a full buffer is written as one large write while the next one fills, so
// the disk stays busy and the caller never waits for it unless every buffer is in flight.
//
// The last, partial block is padded with zeros only in flight (Flush), then carried into the
// next buffer and rewritten when it grows. Writes that cover the same block are never in flight
// together, so a later one cannot be overtaken by an earlier one. `Close()` cuts the file to its
// logical length: readers of Sift's backup format treat zero padding as corruption.
//
// When the file system refuses O_DIRECT (EINVAL at open or at the first write: ramfs, some
// overlay and network mounts), the file falls back to ordinary buffered writes through the same
// code and `direct_io()` turns false so the caller can say so once.
//
// Threading: every method runs on the ring's thread. Progress (a write or a sync completing,
// or an error) is reported through the `on_progress` callback, after which the caller reads
// `written_size()`, `synced_size()`, `status()` and `free_bytes()`.
//
// Open and close are plain system calls: they happen once per file (per rotation), and
// ftruncate has no io_uring operation in the kernels we support. Short writes are continued by
// the ring (io/ring.h), so a buffer's write completes whole or fails; tests can inject failed
// creates, writes and syncs, and short writes, through io/fault_injection.h.
//
// Example (synchronously, as a tool would):
//
//   ASSIGN_OR_RETURN(auto file, io::AppendFile::Create(*ring, "/backups/a.pbfs", {}, {}));
//   RETURN_IF_ERROR(file->Append(chunk));
//   file->Sync();
//   RETURN_IF_ERROR(io::RunUntil(*ring, [&] { return file->idle(); }, absl::Seconds(10)));
//   RETURN_IF_ERROR(file->Close());

#ifndef SIFT_STREAM_IO_APPEND_FILE_H_
#define SIFT_STREAM_IO_APPEND_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "io/ring.h"

namespace sift_stream::io {

// Keeps the aligned buffers of closed files for the next file, so that rotating files does not
// hand megabytes back to malloc and ask for them again: with glibc's dynamic mmap threshold
// that churn grows a process's resident memory (measured in docs/performance.md). Not
// thread-safe: one ring thread uses it. Must outlive every file that uses it.
class AppendBufferPool {
 public:
  explicit AppendBufferPool(size_t max_buffers = 8) : max_buffers_(max_buffers) {}
  ~AppendBufferPool();
  AppendBufferPool(const AppendBufferPool&) = delete;
  AppendBufferPool& operator=(const AppendBufferPool&) = delete;

  // A buffer of `size` bytes aligned to `alignment`: a kept one if it fits, else a new one
  // (nullptr if that allocation fails).
  char* Take(size_t alignment, size_t size);
  // Keeps `buffer` (from Take) for a later Take, or frees it when the pool is full.
  void Give(char* buffer, size_t alignment, size_t size);
  size_t kept() const { return free_.size(); }

 private:
  struct Kept {
    char* data;
    size_t alignment;
    size_t size;
  };
  const size_t max_buffers_;
  std::vector<Kept> free_;
};

struct AppendFileOptions {
  // Size of each buffer (at most 1 GiB); rounded up to the file's O_DIRECT alignment. One
  // buffer is one write.
  size_t buffer_size_bytes = 1 << 20;
  // Buffers in rotation: one filling while the others are written. At least 2.
  int buffer_count = 4;
  // Try O_DIRECT first (false: buffered writes from the start).
  bool direct = true;
  mode_t mode = 0600;
  // Where buffers come from and go back to (nullptr: malloc and free). Outlives the file.
  AppendBufferPool* pool = nullptr;
};

class AppendFile {
 public:
  // Creates `path`, which must not exist yet, and prepares to append to it through `ring`.
  // `on_progress` (may be empty) runs on the ring's thread after each write or sync completes.
  static absl::StatusOr<std::unique_ptr<AppendFile>> Create(Ring& ring, std::string path,
                                                            const AppendFileOptions& options,
                                                            std::function<void()> on_progress);
  // Closes the descriptor if Close() was not called, without truncating: the padded tail
  // stays, as it would after a crash. Owners should wait for idle() first; if writes are still
  // in flight, the destructor runs the ring until they complete (running other callbacks too)
  // rather than free memory the kernel is reading.
  ~AppendFile();

  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Copies all of `bytes` into the file's buffers, or nothing. Errors: Unavailable when they
  // do not fit until writes in flight complete (the file starts writing what it holds; run
  // the ring and retry, see free_bytes()); InvalidArgument when they never can (more than
  // max_append_bytes()); otherwise the file's sticky error status (e.g. ResourceExhausted for
  // a full disk). Full buffers start writing at once; the rest waits for more bytes or Flush().
  absl::Status Append(absl::string_view bytes);
  // How many bytes Append() accepts right now.
  size_t free_bytes() const;
  // The largest Append() that is sure to succeed once the writes in flight complete: all the
  // buffers, less the partial block the last flush carries over.
  size_t max_append_bytes() const { return buffers_.size() * capacity_ - (alignment_ - 1); }

  // Starts writing everything appended so far, the partial last block included.
  void Flush();
  // Flush, then fdatasync once those bytes are written; synced_size() advances when done.
  void Sync();

  // Requires idle(): cuts the file to logical_size() and closes it. Close does not sync: call
  // Sync() and wait for synced_size() first if the data must survive a power cut. Returns the
  // file's error status, if any (the descriptor is closed either way).
  absl::Status Close();

  // Nothing queued, in flight, or appended but unwritten.
  bool idle() const;
  // A write or an fdatasync is in flight: the ring will run on_progress for this file again.
  // Unlike idle(), bytes appended but not yet flushed do not count, so !writing() means there
  // is nothing to wait for (Flush() or Sync() would start something); a file the caller
  // leaves half-filled between messages is !writing() but not idle().
  bool writing() const;
  // Bytes appended so far.
  uint64_t logical_size() const { return logical_size_; }
  // Length of the prefix the kernel has completed writing.
  uint64_t written_size() const;
  // Length of the prefix known to be on stable storage (fdatasync completed after it was
  // written).
  uint64_t synced_size() const { return synced_size_; }
  // The first error, naming the path, the operation and the offset. Sticky.
  const absl::Status& status() const { return status_; }

  // A full disk (ENOSPC, EDQUOT) is not an error but a stall: the write that found it is kept
  // and tried again after a backoff (10 ms doubling to 1 s), and no newer write starts until it
  // succeeds, so the file never holds a hole. While stalled, stall() says why
  // (ResourceExhausted naming the path and offset), writing() stays true (a retry timer runs)
  // and appends are refused once the buffers are full, so back-pressure reaches the caller.
  // The same goes for an fdatasync that finds the disk full on an O_DIRECT file (no dirty
  // pages can have been dropped); on a buffered file it is an error. OK when not stalled.
  const absl::Status& stall() const { return stall_; }
  // Gives up a stall for good: the kept writes are dropped and status() becomes the stall's
  // error, so the owner can shut down (a deadline ran out while the disk stays full).
  void AbandonStall();
  // False when the file system refused O_DIRECT and the file fell back to buffered writes.
  bool direct_io() const { return direct_io_; }
  size_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  // Write system calls completed (for tests of batching).
  uint64_t writes_completed() const { return writes_completed_; }

 private:
  // kRetry: its write found the disk full; it is written again when the retry timer fires.
  enum class BufferState : uint8_t { kFree, kFilling, kSealed, kWriting, kRetry };
  struct Buffer {
    AppendFile* owner = nullptr;
    char* data = nullptr;  // alignment_-aligned, capacity_ bytes.
    uint64_t file_offset = 0;
    size_t fill = 0;     // Valid bytes from file_offset.
    size_t carried = 0;  // Leading bytes already written by the previous buffer's padded tail.
    BufferState state = BufferState::kFree;
    // kRetry only: the next buffer's write (which carried this one's partial last block)
    // succeeded, so the retry must not rewrite that block with this buffer's zero padding.
    bool tail_written_by_next = false;
    Completion write;
  };

  AppendFile(Ring& ring, std::string path, int fd, bool direct_io, size_t alignment,
             const AppendFileOptions& options, std::function<void()> on_progress);

  Buffer& current() { return buffers_[current_]; }
  const Buffer& current() const { return buffers_[current_]; }
  // Seals the current buffer and moves to the next, carrying the partial tail block over.
  // Returns false if the next buffer is still being written.
  bool Advance();
  void SubmitReady();
  void MaybeStartSync();
  void OnWrite(Buffer& buffer, Completion& completion);
  void OnSync(Completion& completion);
  // Disk full: keep `buffer` (or the sync) for a retry and arm the timer.
  void Stall(Buffer* buffer, absl::Status why);
  void OnRetryTimer(Completion& completion);
  // Resubmits kept writes in file order, each once nothing overlapping is in flight.
  void SubmitRetries();
  bool stalled() const { return !stall_.ok(); }
  bool Overlaps(uint64_t start) const;
  void Fail(absl::Status status);
  void ReportProgress();
  static void OnWriteThunk(void* context, Completion& completion);

  Ring& ring_;
  const std::string path_;
  int fd_;
  bool direct_io_;
  const size_t alignment_;
  const size_t capacity_;
  const std::function<void()> on_progress_;
  AppendBufferPool* const pool_;
  std::vector<Buffer> buffers_;
  int current_ = 0;       // The buffer that takes appended bytes (kFilling).
  int next_submit_ = 0;   // Oldest buffer that may be sealed and not yet submitted.
  bool advance_pending_ = false;  // Current is sealed; the next buffer was busy.
  uint64_t logical_size_ = 0;
  uint64_t write_failed_at_ = UINT64_MAX;
  uint64_t synced_size_ = 0;
  uint64_t sync_wanted_ = 0;   // Highest logical size a Sync() asked for.
  uint64_t sync_target_ = 0;   // What the fdatasync in flight covers.
  Completion sync_;
  uint64_t writes_completed_ = 0;
  absl::Status status_;
  absl::Status stall_;
  bool retrying_ = false;     // The timer fired: kept writes are being resubmitted.
  bool sync_retry_ = false;   // The fdatasync found the disk full and must run again.
  absl::Duration retry_backoff_ = absl::Milliseconds(10);
  Completion retry_timer_;
};

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_APPEND_FILE_H_
