#include "io/append_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "io/fault_injection.h"

namespace sift_stream::io {
namespace {

constexpr size_t kDefaultAlignment = 4096;
// One buffer is one write, and a write's length must fit the ring's 32-bit length.
constexpr size_t kMaxBufferBytes = size_t{1} << 30;

size_t RoundUp(size_t value, size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// The file's O_DIRECT alignment, 0 if the file system says it cannot do O_DIRECT, or the
// common 4096 when the kernel does not tell.
size_t DirectIoAlignment(int fd) {
  struct statx st;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) != 0 ||
      (st.stx_mask & STATX_DIOALIGN) == 0) {
    return kDefaultAlignment;
  }
  if (st.stx_dio_offset_align == 0) return 0;
  return std::max<size_t>({st.stx_dio_offset_align, st.stx_dio_mem_align, 512});
}

// The file a refused O_DIRECT open left behind: ours only if it is still empty.
int OpenOwnEmptyFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size != 0) {
    close(fd);
    errno = EEXIST;
    return -1;
  }
  return fd;
}

// open(2) of a new file, unless a test's fault plan makes it fail (io/fault_injection.h).
int CreateFile(const std::string& path, int flags, mode_t mode) {
  if (FaultInjectionActive()) {
    std::optional<InjectedFault> fault =
        DecideFault(FaultOpBit(FaultOp::kOpen), -1, path.c_str(), nullptr, 0);
    if (fault.has_value()) {
      errno = fault->error;
      return -1;
    }
  }
  return open(path.c_str(), flags, mode);
}

absl::Status DropDirectIo(int fd, const std::string& path) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) < 0) {
    return ErrnoToStatus(errno, "fcntl(clear O_DIRECT)", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AppendFile>> AppendFile::Create(Ring& ring, std::string path,
                                                               const AppendFileOptions& options,
                                                               std::function<void()> on_progress) {
  if (options.buffer_count < 2 || options.buffer_size_bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AppendFile ", path, ": needs at least 2 buffers of non-zero size, got ",
                     options.buffer_count, " of ", options.buffer_size_bytes, " bytes"));
  }
  if (options.buffer_size_bytes > kMaxBufferBytes) {
    return absl::InvalidArgumentError(absl::StrCat("AppendFile ", path, ": buffers of ",
                                                   options.buffer_size_bytes,
                                                   " bytes exceed the limit of ",
                                                   kMaxBufferBytes));
  }
  const int base_flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  bool direct = options.direct;
  int fd = CreateFile(path, base_flags | (direct ? O_DIRECT : 0), options.mode);
  if (fd < 0 && direct && errno == EINVAL) {
    // Refused O_DIRECT (ramfs, some overlays). The refusal comes after the file was created,
    // so open the one we just made, and only if it is still empty.
    direct = false;
    fd = open(path.c_str(), base_flags, options.mode);
    if (fd < 0 && errno == EEXIST) fd = OpenOwnEmptyFile(path);
  }
  if (fd < 0) return ErrnoToStatus(errno, "create backup file", path);

  size_t alignment = kDefaultAlignment;
  if (direct) {
    alignment = DirectIoAlignment(fd);
    if (alignment == 0) {
      absl::Status dropped = DropDirectIo(fd, path);
      if (!dropped.ok()) {
        close(fd);
        return dropped;
      }
      direct = false;
      alignment = kDefaultAlignment;
    }
  }
  return std::unique_ptr<AppendFile>(
      new AppendFile(ring, std::move(path), fd, direct, alignment, options,
                     std::move(on_progress)));
}

AppendBufferPool::~AppendBufferPool() {
  for (const Kept& kept : free_) std::free(kept.data);
}

char* AppendBufferPool::Take(size_t alignment, size_t size) {
  for (size_t i = 0; i < free_.size(); ++i) {
    if (free_[i].alignment == alignment && free_[i].size == size) {
      char* data = free_[i].data;
      free_[i] = free_.back();
      free_.pop_back();
      return data;
    }
  }
  return static_cast<char*>(std::aligned_alloc(alignment, size));
}

void AppendBufferPool::Give(char* buffer, size_t alignment, size_t size) {
  if (buffer == nullptr) return;
  if (free_.size() >= max_buffers_) {
    std::free(buffer);
    return;
  }
  free_.push_back({buffer, alignment, size});
}

AppendFile::AppendFile(Ring& ring, std::string path, int fd, bool direct_io, size_t alignment,
                       const AppendFileOptions& options, std::function<void()> on_progress)
    : ring_(ring),
      path_(std::move(path)),
      fd_(fd),
      direct_io_(direct_io),
      alignment_(alignment),
      capacity_(RoundUp(options.buffer_size_bytes, alignment)),
      on_progress_(std::move(on_progress)),
      pool_(options.pool),
      buffers_(options.buffer_count) {
  for (Buffer& b : buffers_) {
    b.owner = this;
    b.data = pool_ != nullptr ? pool_->Take(alignment_, capacity_)
                              : static_cast<char*>(std::aligned_alloc(alignment_, capacity_));
    assert(b.data != nullptr);
  }
  current().state = BufferState::kFilling;
}

AppendFile::~AppendFile() {
  // A stall would retry for as long as the disk stays full: give it up first.
  AbandonStall();
  // The kernel may still be reading our buffers: wait rather than free them under it. Owners
  // should wait for idle() themselves; this only keeps a mistake from corrupting memory.
  auto nothing_in_flight = [this] {
    if (sync_.in_flight() || retry_timer_.in_flight()) return false;
    for (const Buffer& b : buffers_) {
      if (b.state == BufferState::kWriting) return false;
    }
    return true;
  };
  while (!nothing_in_flight()) {
    if (!ring_.RunOnce(absl::Milliseconds(100)).ok()) std::abort();
  }
  if (fd_ >= 0) close(fd_);
  for (Buffer& b : buffers_) {
    if (pool_ != nullptr) {
      pool_->Give(b.data, alignment_, capacity_);
    } else {
      std::free(b.data);
    }
  }
}

size_t AppendFile::free_bytes() const {
  if (!status_.ok()) return 0;
  const int count = static_cast<int>(buffers_.size());
  size_t total = advance_pending_ ? 0 : capacity_ - current().fill;
  // The carried tail of a pending advance takes room in the next buffer.
  size_t carry = advance_pending_ ? current().fill % alignment_ : 0;
  for (int i = (current_ + 1) % count; i != current_; i = (i + 1) % count) {
    if (buffers_[i].state != BufferState::kFree) break;
    total += capacity_ - carry;
    carry = 0;
  }
  return total;
}

absl::Status AppendFile::Append(absl::string_view bytes) {
  if (!status_.ok()) return status_;
  if (bytes.size() > free_bytes()) {
    if (bytes.size() > max_append_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "append to ", path_, ": ", bytes.size(), " bytes can never fit in ", buffers_.size(),
          " buffers of ", capacity_, " bytes; raise AppendFileOptions::buffer_size_bytes"));
    }
    // Start writing what the current buffer holds, so that waiting is enough to make room.
    Flush();
    return absl::UnavailableError(absl::StrCat(
        "append to ", path_, ": ", bytes.size(), " bytes do not fit in the ", free_bytes(),
        " bytes of buffer free until writes in flight complete"));
  }
  // A pending advance means the next buffer is busy, so free_bytes() was 0.
  assert(!advance_pending_ || bytes.empty());
  while (!bytes.empty()) {
    Buffer& b = current();
    size_t n = std::min(bytes.size(), capacity_ - b.fill);
    std::memcpy(b.data + b.fill, bytes.data(), n);
    b.fill += n;
    logical_size_ += n;
    bytes.remove_prefix(n);
    if (b.fill == capacity_) {
      b.state = BufferState::kSealed;
      Advance();
    }
  }
  SubmitReady();
  return absl::OkStatus();
}

bool AppendFile::Advance() {
  const int next = (current_ + 1) % static_cast<int>(buffers_.size());
  Buffer& sealed = current();
  Buffer& b = buffers_[next];
  if (b.state != BufferState::kFree) {
    advance_pending_ = true;
    return false;
  }
  // Reading `sealed` while its write is in flight is safe: the device only reads it too.
  const size_t tail = sealed.fill % alignment_;
  const size_t aligned = sealed.fill - tail;
  std::memcpy(b.data, sealed.data + aligned, tail);
  b.file_offset = sealed.file_offset + aligned;
  b.fill = tail;
  b.carried = tail;
  b.state = BufferState::kFilling;
  current_ = next;
  advance_pending_ = false;
  return true;
}

bool AppendFile::Overlaps(uint64_t start) const {
  for (const Buffer& b : buffers_) {
    if (b.state == BufferState::kWriting && b.file_offset + RoundUp(b.fill, alignment_) > start) {
      return true;
    }
  }
  return false;
}

void AppendFile::SubmitReady() {
  const int count = static_cast<int>(buffers_.size());
  // While the disk is full, newer writes wait behind the kept ones: no holes in the file.
  while (status_.ok() && !stalled() && buffers_[next_submit_].state == BufferState::kSealed) {
    Buffer& b = buffers_[next_submit_];
    // A write that rewrites the block an earlier write still covers must wait for it.
    if (Overlaps(b.file_offset)) return;
    size_t length = b.fill;
    if (direct_io_) {
      length = RoundUp(b.fill, alignment_);
      std::memset(b.data + b.fill, 0, length - b.fill);  // Padding exists only in flight.
    }
    b.state = BufferState::kWriting;
    ring_.Write(b.write, fd_, b.data, static_cast<uint32_t>(length), b.file_offset,
                Callback{&AppendFile::OnWriteThunk, &b});
    next_submit_ = (next_submit_ + 1) % count;
  }
}

void AppendFile::OnWriteThunk(void* context, Completion& completion) {
  Buffer& b = *static_cast<Buffer*>(context);
  b.owner->OnWrite(b, completion);
}

void AppendFile::OnWrite(Buffer& b, Completion& completion) {
  ++writes_completed_;
  if (completion.result == -EINVAL && direct_io_) {
    // Some file systems accept O_DIRECT at open and refuse it at the first write.
    absl::Status dropped = DropDirectIo(fd_, path_);
    if (dropped.ok()) {
      direct_io_ = false;
      ring_.Write(b.write, fd_, b.data, static_cast<uint32_t>(b.fill), b.file_offset,
                  Callback{&AppendFile::OnWriteThunk, &b});
      return;
    }
    Fail(dropped);
  } else if ((completion.result == -ENOSPC || completion.result == -EDQUOT) && status_.ok()) {
    return Stall(&b, ErrnoToStatus(-completion.result, "write backup file",
                                   absl::StrCat(path_, " at offset ", b.file_offset)));
  } else if (completion.result < 0) {
    Fail(ErrnoToStatus(-completion.result, "write backup file",
                       absl::StrCat(path_, " at offset ", b.file_offset)));
    // Nothing from here on counts as written, whatever later writes manage.
    write_failed_at_ = std::min(write_failed_at_, b.file_offset + b.carried);
  }
  if (completion.result >= 0 && b.carried > 0) {
    // This write covered the previous buffer's last block: a retry of it must not pad it.
    for (Buffer& previous : buffers_) {
      if (previous.state == BufferState::kRetry &&
          previous.file_offset + (previous.fill - previous.fill % alignment_) == b.file_offset) {
        previous.tail_written_by_next = true;
      }
    }
  }
  b.state = BufferState::kFree;
  if (advance_pending_) Advance();
  if (retrying_) SubmitRetries();
  SubmitReady();
  MaybeStartSync();
  ReportProgress();
}

void AppendFile::Stall(Buffer* buffer, absl::Status why) {
  if (buffer != nullptr) buffer->state = BufferState::kRetry;
  if (!stalled()) stall_ = absl::ResourceExhaustedError(absl::StrCat(
      why.message(), ": the disk is full; the write is kept and retried until space comes back"));
  retrying_ = false;
  if (!retry_timer_.in_flight()) {
    ring_.Timeout(retry_timer_, retry_backoff_,
                  Bind<AppendFile, &AppendFile::OnRetryTimer>(this));
    retry_backoff_ = std::min(retry_backoff_ * 2, absl::Seconds(1));
  }
  ReportProgress();
}

void AppendFile::OnRetryTimer(Completion&) {
  if (!status_.ok()) return ReportProgress();  // Abandoned meanwhile.
  retrying_ = true;
  SubmitRetries();
  SubmitReady();
  MaybeStartSync();
  ReportProgress();
}

void AppendFile::SubmitRetries() {
  for (;;) {
    Buffer* oldest = nullptr;
    for (Buffer& b : buffers_) {
      if (b.state == BufferState::kRetry && (oldest == nullptr || b.file_offset < oldest->file_offset)) {
        oldest = &b;
      }
    }
    if (oldest == nullptr) break;
    if (Overlaps(oldest->file_offset)) return;  // Its turn comes when that write completes.
    Buffer& b = *oldest;
    size_t length = b.fill;
    if (direct_io_) {
      length = b.tail_written_by_next ? b.fill - b.fill % alignment_ : RoundUp(b.fill, alignment_);
    }
    b.tail_written_by_next = false;
    if (length <= b.carried) {  // Everything it holds is on disk through its neighbours.
      b.state = BufferState::kFree;
      continue;
    }
    b.state = BufferState::kWriting;
    ring_.Write(b.write, fd_, b.data, static_cast<uint32_t>(length), b.file_offset,
                Callback{&AppendFile::OnWriteThunk, &b});
  }
  if (!stalled() || !retrying_) return;
  for (const Buffer& b : buffers_) {
    if (b.state == BufferState::kWriting) return;  // A retry is in flight: wait for it.
  }
  // Every kept write is on disk again.
  stall_ = absl::OkStatus();
  retrying_ = false;
  retry_backoff_ = absl::Milliseconds(10);
  if (sync_retry_) {
    sync_retry_ = false;
    sync_target_ = 0;
  }
  if (advance_pending_) Advance();
}

void AppendFile::AbandonStall() {
  if (!stalled()) return;
  Fail(absl::Status(stall_));
}

void AppendFile::Flush() {
  if (!status_.ok()) return;
  Buffer& b = current();
  if (!advance_pending_ && b.fill > b.carried) {
    b.state = BufferState::kSealed;
    Advance();
  }
  SubmitReady();
}

void AppendFile::Sync() {
  Flush();
  sync_wanted_ = std::max(sync_wanted_, logical_size_);
  MaybeStartSync();
}

void AppendFile::MaybeStartSync() {
  if (!status_.ok() || stalled() || sync_.in_flight() || sync_wanted_ <= synced_size_) return;
  if (written_size() < sync_wanted_) return;
  sync_target_ = sync_wanted_;
  ring_.Fsync(sync_, fd_, SyncKind::kData, Bind<AppendFile, &AppendFile::OnSync>(this));
}

void AppendFile::OnSync(Completion& completion) {
  const bool full = completion.result == -ENOSPC || completion.result == -EDQUOT;
  if (full && direct_io_ && status_.ok()) {
    // O_DIRECT leaves no dirty data pages to lose: only metadata waits, and can be retried.
    sync_retry_ = true;
    return Stall(nullptr, ErrnoToStatus(-completion.result, "fdatasync backup file", path_));
  }
  if (completion.result < 0) {
    Fail(ErrnoToStatus(-completion.result, "fdatasync backup file", path_));
  } else {
    synced_size_ = std::max(synced_size_, sync_target_);
  }
  MaybeStartSync();
  ReportProgress();
}

uint64_t AppendFile::written_size() const {
  uint64_t written = std::min(logical_size_, write_failed_at_);
  for (const Buffer& b : buffers_) {
    if (b.state != BufferState::kFree) written = std::min(written, b.file_offset + b.carried);
  }
  return written;
}

bool AppendFile::writing() const {
  for (const Buffer& b : buffers_) {
    if (b.state == BufferState::kWriting) return true;
  }
  return sync_.in_flight() || retry_timer_.in_flight() || stalled();
}

bool AppendFile::idle() const {
  if (writing()) return false;
  return !status_.ok() || written_size() == logical_size_;
}

absl::Status AppendFile::Close() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, " is already closed"));
  if (!idle()) {
    return absl::FailedPreconditionError(
        absl::StrCat("close ", path_, ": writes still pending; Flush() and wait for idle()"));
  }
  absl::Status result = status_;
  if (result.ok() && ftruncate(fd_, static_cast<off_t>(logical_size_)) != 0) {
    result = ErrnoToStatus(errno, "truncate backup file to its logical length", path_);
  }
  if (close(fd_) != 0 && result.ok()) result = ErrnoToStatus(errno, "close backup file", path_);
  fd_ = -1;
  return result;
}

// A failed file takes no more writes, so writes kept for a retry are dropped here: they never
// reached the disk, and written_size() must end where the first of them begins.
void AppendFile::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  for (Buffer& b : buffers_) {
    if (b.state != BufferState::kRetry) continue;
    write_failed_at_ = std::min(write_failed_at_, b.file_offset + b.carried);
    b.state = BufferState::kFree;
  }
  stall_ = absl::OkStatus();
  retrying_ = false;
  sync_retry_ = false;
}

void AppendFile::ReportProgress() {
  if (on_progress_) on_progress_();
}

}  // namespace sift_stream::io
