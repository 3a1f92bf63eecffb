#include "io/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <algorithm>
#include <cassert>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/fault_injection.h"

namespace sift_stream::io {

absl::Status ErrnoToStatus(int error_number, const char* operation, absl::string_view subject) {
  std::string message =
      absl::StrCat(operation, " ", subject, ": ", strerror(error_number), " (errno ",
                   error_number, ")");
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EINVAL:
    case EBADF:
    case EISDIR:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    case EINTR:
    case EAGAIN:
    case EBUSY:
      return absl::UnavailableError(message);
    case ECANCELED:
      return absl::CancelledError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<Ring>> Ring::Create(unsigned entries) {
  std::unique_ptr<Ring> ring(new Ring());
  int ret = io_uring_queue_init(entries, &ring->ring_, 0);
  if (ret < 0) {
    return ErrnoToStatus(-ret, "io_uring_queue_init", absl::StrCat(entries, " entries"));
  }
  ring->initialized_ = true;
  return ring;
}

Ring::~Ring() {
  // Completions still in flight point into their owners' memory; the kernel may still write
  // into their buffers. Owners must drain (in_flight() == 0) before destroying what they own.
  assert(in_flight_ == 0 && "Ring destroyed with operations in flight");
  if (initialized_) io_uring_queue_exit(&ring_);
}

void Ring::Start(Completion& c, Completion::Op op, Callback callback) {
  assert(!c.in_flight_ && "a Completion may carry one operation at a time");
  assert(callback.function != nullptr);
  c.op_ = op;
  c.callback_ = callback;
  c.in_flight_ = true;
  c.result = 0;
  c.done_ = 0;
  c.fault_length_ = 0;
  c.next_ = nullptr;
  ++in_flight_;
  if (FaultInjectionActive() && InjectFault(c)) return;
  QueueUnsubmitted(c);
}

void Ring::QueueUnsubmitted(Completion& c) {
  c.next_ = nullptr;
  if (unsubmitted_tail_ == nullptr) {
    unsubmitted_head_ = &c;
  } else {
    unsubmitted_tail_->next_ = &c;
  }
  unsubmitted_tail_ = &c;
}

bool Ring::InjectFault(Completion& c) {
  uint32_t kinds = 0;
  const char* path = nullptr;
  const char* path2 = nullptr;
  int fd = -1;
  switch (c.op_) {
    case Completion::Op::kWrite:
      kinds = FaultOpBit(FaultOp::kWrite);
      fd = c.fd_;
      break;
    case Completion::Op::kFsync:
      kinds = FaultOpBit(FaultOp::kFsync) |
              FaultOpBit((c.flags_ & IORING_FSYNC_DATASYNC) != 0 ? FaultOp::kDataSync
                                                                  : FaultOp::kFullSync);
      fd = c.fd_;
      break;
    case Completion::Op::kOpenAt:
      if ((c.flags_ & O_CREAT) == 0) return false;  // Only creation is a fault site.
      kinds = FaultOpBit(FaultOp::kOpen);
      path = c.path_;
      break;
    case Completion::Op::kUnlinkAt:
      kinds = FaultOpBit(FaultOp::kUnlink);
      path = c.path_;
      break;
    case Completion::Op::kRenameAt:
      kinds = FaultOpBit(FaultOp::kRename);
      path = c.path_;
      path2 = c.new_path_;
      break;
    default:
      return false;
  }
  std::optional<InjectedFault> fault = DecideFault(kinds, fd, path, path2, c.length_);
  if (!fault.has_value()) return false;
  if (fault->outcome == FaultOutcome::kShortWrite) {
    c.fault_length_ = fault->write_bytes;  // Prepare() asks the kernel for this much only.
    return false;
  }
  // Never submitted, so the file is as a refused operation leaves it; the callback runs on
  // the next turn, like any completion (Reap also retries an injected EINTR for real).
  Reap(c, -fault->error);
  return true;
}

void Ring::Write(Completion& c, int fd, const void* buffer, uint32_t length, uint64_t offset,
                 Callback callback) {
  c.fd_ = fd;
  c.buffer_ = const_cast<void*>(buffer);
  c.length_ = length;
  c.offset_ = offset;
  Start(c, Completion::Op::kWrite, callback);
}

void Ring::Read(Completion& c, int fd, void* buffer, uint32_t length, uint64_t offset,
                Callback callback) {
  c.fd_ = fd;
  c.buffer_ = buffer;
  c.length_ = length;
  c.offset_ = offset;
  Start(c, Completion::Op::kRead, callback);
}

void Ring::Fsync(Completion& c, int fd, SyncKind kind, Callback callback) {
  c.fd_ = fd;
  c.flags_ = kind == SyncKind::kData ? IORING_FSYNC_DATASYNC : 0;
  Start(c, Completion::Op::kFsync, callback);
}

void Ring::OpenAt(Completion& c, int dir_fd, const char* path, int flags, mode_t mode,
                  Callback callback) {
  c.fd_ = dir_fd;
  c.path_ = path;
  c.flags_ = flags;
  c.mode_ = mode;
  Start(c, Completion::Op::kOpenAt, callback);
}

void Ring::Close(Completion& c, int fd, Callback callback) {
  c.fd_ = fd;
  Start(c, Completion::Op::kClose, callback);
}

void Ring::UnlinkAt(Completion& c, int dir_fd, const char* path, int flags, Callback callback) {
  c.fd_ = dir_fd;
  c.path_ = path;
  c.flags_ = flags;
  Start(c, Completion::Op::kUnlinkAt, callback);
}

void Ring::RenameAt(Completion& c, int dir_fd, const char* old_path, const char* new_path,
                    Callback callback) {
  c.fd_ = dir_fd;
  c.path_ = old_path;
  c.new_path_ = new_path;
  Start(c, Completion::Op::kRenameAt, callback);
}

void Ring::Timeout(Completion& c, absl::Duration duration, Callback callback) {
  if (duration < absl::ZeroDuration()) duration = absl::ZeroDuration();
  c.timeout_.tv_sec = absl::ToInt64Seconds(duration);
  c.timeout_.tv_nsec =
      absl::ToInt64Nanoseconds(duration - absl::Seconds(c.timeout_.tv_sec));
  Start(c, Completion::Op::kTimeout, callback);
}

void Ring::Cancel(Completion& c, Completion& target, Callback callback) {
  c.target_ = &target;
  Start(c, Completion::Op::kCancel, callback);
}

void Ring::Nop(Completion& c, Callback callback) { Start(c, Completion::Op::kNop, callback); }

void Ring::Prepare(io_uring_sqe* sqe, Completion& c) {
  char* buffer = static_cast<char*>(c.buffer_);
  switch (c.op_) {
    case Completion::Op::kWrite: {
      uint32_t length = c.length_ - c.done_;
      if (c.fault_length_ != 0) length = std::min(length, std::exchange(c.fault_length_, 0u));
      io_uring_prep_write(sqe, c.fd_, buffer + c.done_, length, c.offset_ + c.done_);
      break;
    }
    case Completion::Op::kRead:
      io_uring_prep_read(sqe, c.fd_, buffer, c.length_, c.offset_);
      break;
    case Completion::Op::kFsync:
      io_uring_prep_fsync(sqe, c.fd_, c.flags_);
      break;
    case Completion::Op::kOpenAt:
      io_uring_prep_openat(sqe, c.fd_, c.path_, c.flags_, c.mode_);
      break;
    case Completion::Op::kClose:
      io_uring_prep_close(sqe, c.fd_);
      break;
    case Completion::Op::kUnlinkAt:
      io_uring_prep_unlinkat(sqe, c.fd_, c.path_, c.flags_);
      break;
    case Completion::Op::kRenameAt:
      io_uring_prep_renameat(sqe, c.fd_, c.path_, c.fd_, c.new_path_, 0);
      break;
    case Completion::Op::kTimeout:
      io_uring_prep_timeout(sqe, &c.timeout_, 0, 0);
      break;
    case Completion::Op::kCancel:
      io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(c.target_), 0);
      break;
    case Completion::Op::kNop:
      io_uring_prep_nop(sqe);
      break;
    case Completion::Op::kNone:
      assert(false && "Completion without an operation");
      break;
  }
  io_uring_sqe_set_data(sqe, &c);
}

void Ring::FillSubmissionQueue() {
  while (unsubmitted_head_ != nullptr) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return;  // Full: the rest waits for the next turn.
    Completion* c = unsubmitted_head_;
    unsubmitted_head_ = c->next_;
    if (unsubmitted_head_ == nullptr) unsubmitted_tail_ = nullptr;
    c->next_ = nullptr;
    Prepare(sqe, *c);
  }
}

void Ring::Reap(Completion& c, int32_t result) {
  bool retry = result == -EINTR || result == -EAGAIN;
  if (c.op_ == Completion::Op::kWrite && result >= 0) {
    if (result == 0) {
      // No progress and no error: report it rather than spin.
      result = -EIO;
    } else {
      c.done_ += static_cast<uint32_t>(result);
      retry = c.done_ < c.length_;
      result = static_cast<int32_t>(c.done_);
    }
  }
  if (c.op_ == Completion::Op::kTimeout && result == -ETIME) result = 0;
  if (retry) {
    QueueUnsubmitted(c);
    return;
  }
  c.result = result;
  c.next_ = nullptr;
  if (reaped_tail_ == nullptr) {
    reaped_head_ = &c;
  } else {
    reaped_tail_->next_ = &c;
  }
  reaped_tail_ = &c;
}

int Ring::RunReaped() {
  // Detach the list first: callbacks may start operations that complete on a later turn.
  Completion* c = reaped_head_;
  reaped_head_ = reaped_tail_ = nullptr;
  int ran = 0;
  while (c != nullptr) {
    Completion* next = c->next_;
    c->next_ = nullptr;
    c->in_flight_ = false;
    --in_flight_;
    Callback callback = c->callback_;
    callback.function(callback.context, *c);  // May reuse or destroy *c.
    ++ran;
    c = next;
  }
  return ran;
}

absl::StatusOr<int> Ring::RunOnce(absl::Duration max_wait) {
  FillSubmissionQueue();
  int ret = 0;
  // Completions reaped outside the kernel (injected faults) must not wait behind it.
  const bool ready = io_uring_cq_ready(&ring_) > 0 || reaped_head_ != nullptr;
  if (max_wait <= absl::ZeroDuration() || ready) {
    if (io_uring_sq_ready(&ring_) > 0) {
      ret = io_uring_submit(&ring_);
      ++submit_calls_;
    }
  } else if (max_wait == absl::InfiniteDuration()) {
    ret = io_uring_submit_and_wait(&ring_, 1);
    ++submit_calls_;
  } else {
    __kernel_timespec ts;
    ts.tv_sec = absl::ToInt64Seconds(max_wait);
    ts.tv_nsec = absl::ToInt64Nanoseconds(max_wait - absl::Seconds(ts.tv_sec));
    io_uring_cqe* cqe = nullptr;
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    ++submit_calls_;
  }
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
    return ErrnoToStatus(-ret, "io_uring_enter", "reactor ring");
  }

  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    // liburing's own timeout entry, used only on kernels without IORING_FEAT_EXT_ARG.
    if (cqe->user_data == LIBURING_UDATA_TIMEOUT) continue;
    Reap(*static_cast<Completion*>(io_uring_cqe_get_data(cqe)), cqe->res);
  }
  io_uring_cq_advance(&ring_, seen);
  return RunReaped();
}

absl::Status RunUntil(Ring& ring, absl::FunctionRef<bool()> done, absl::Duration timeout,
                      absl::string_view what) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("gave up waiting ", absl::FormatDuration(timeout), " for ", what));
    }
    absl::StatusOr<int> ran = ring.RunOnce(std::min(left, absl::Milliseconds(50)));
    if (!ran.ok()) return ran.status();
  }
  return absl::OkStatus();
}

}  // namespace sift_stream::io
