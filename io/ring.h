// io/ring.h — a small, single-threaded io_uring event loop.
//
// `Ring` owns one io_uring. Callers start operations (write, read, fsync, openat, close,
// unlinkat, renameat, timeouts, cancellation) by handing it a `Completion` that they own and
// that lives inside their own state machine; the ring never allocates per operation. Starting
// an operation only queues it. `RunOnce()` is one turn of the loop: it submits everything
// queued with a single io_uring_enter, waits (bounded) for completions, reaps them all, and only
// then runs their callbacks, so a callback never runs inside another one and may freely start
// new operations (they are submitted on the next turn).
//
// A completion is the only way an operation's state advances: the callback receives the final
// result. Short writes are continued and EINTR/EAGAIN are resubmitted inside the ring, so a
// write's callback sees either the full length or a negative errno.
//
// Tests can make writes, fsyncs, creating opens, renames and unlinks fail or come up short
// through io/fault_injection.h; without an installed plan that costs one relaxed atomic load
// per started operation.
//
// Thread-safety: a Ring and its Completions belong to one thread (the reactor). Other threads
// wake that thread through `Wakeup` (io/wakeup.h).
//
// Example:
//
//   struct Flusher {
//     io::Completion done;
//     void Start(io::Ring& ring, int fd) {
//       ring.Fsync(done, fd, io::SyncKind::kData, io::Bind<Flusher, &Flusher::OnSynced>(this));
//     }
//     void OnSynced(io::Completion& c) { if (c.result < 0) { /* errno -c.result */ } }
//   };
//   ...
//   while (running) { auto n = ring->RunOnce(absl::Milliseconds(10)); if (!n.ok()) ...; }

#ifndef SIFT_STREAM_IO_RING_H_
#define SIFT_STREAM_IO_RING_H_

#include <linux/time_types.h>
#include <liburing.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sift_stream::io {

class Completion;

// What to run when an operation completes: a plain function and the object it acts on.
struct Callback {
  void (*function)(void* context, Completion& completion) = nullptr;
  void* context = nullptr;
};

// Makes a Callback that calls `(object->*Method)(completion)`.
template <typename T, void (T::*Method)(Completion&)>
Callback Bind(T* object) {
  return Callback{[](void* context, Completion& completion) {
                    (static_cast<T*>(context)->*Method)(completion);
                  },
                  object};
}

enum class SyncKind : uint8_t {
  kData,  // fdatasync: data and the metadata needed to read it back (size).
  kFull,  // fsync: all metadata too.
};

// One operation in flight. Owned by the caller, which must keep it alive and untouched from the
// call that starts the operation until its callback has run. `result` is the kernel's result:
// >= 0 on success (bytes for read/write, a file descriptor for openat, 0 otherwise), -errno on
// failure. A timeout that expires completes with 0; a cancelled operation with -ECANCELED.
class Completion {
 public:
  enum class Op : uint8_t {
    kNone,
    kWrite,
    kRead,
    kFsync,
    kOpenAt,
    kClose,
    kUnlinkAt,
    kRenameAt,
    kTimeout,
    kCancel,
    kNop,
  };

  Completion() = default;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  Op op() const { return op_; }
  // True from the call that starts an operation until just before its callback runs.
  bool in_flight() const { return in_flight_; }

  int32_t result = 0;

 private:
  friend class Ring;

  Op op_ = Op::kNone;
  bool in_flight_ = false;
  Callback callback_;
  Completion* next_ = nullptr;  // Intrusive link: the unsubmitted or the reaped list.

  // Operation parameters, kept so that an operation can be (re)submitted later: when the
  // submission queue is full, after a short write, or after EINTR/EAGAIN.
  int fd_ = -1;
  int flags_ = 0;
  mode_t mode_ = 0;
  void* buffer_ = nullptr;
  uint32_t length_ = 0;
  uint32_t done_ = 0;  // Bytes of a write already completed.
  // An injected short write (io/fault_injection.h): the length its first submission asks the
  // kernel for instead of the whole; 0 once submitted or when none was injected.
  uint32_t fault_length_ = 0;
  uint64_t offset_ = 0;
  const char* path_ = nullptr;
  const char* new_path_ = nullptr;
  Completion* target_ = nullptr;  // For kCancel.
  __kernel_timespec timeout_{};
};

class Ring {
 public:
  // `entries` bounds the submission queue; more operations than that may be queued (they wait
  // in an in-memory list until a later turn).
  static absl::StatusOr<std::unique_ptr<Ring>> Create(unsigned entries = 256);
  ~Ring();

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Writes `length` bytes from `buffer` at `offset`. The buffer must stay valid (and, for
  // O_DIRECT files, aligned) until the callback runs.
  void Write(Completion& c, int fd, const void* buffer, uint32_t length, uint64_t offset,
             Callback callback);
  // Reads up to `length` bytes; a short result means end of file (or a short device read).
  void Read(Completion& c, int fd, void* buffer, uint32_t length, uint64_t offset,
            Callback callback);
  void Fsync(Completion& c, int fd, SyncKind kind, Callback callback);
  // `path` must stay valid until the callback runs. Result: the new file descriptor.
  void OpenAt(Completion& c, int dir_fd, const char* path, int flags, mode_t mode,
              Callback callback);
  void Close(Completion& c, int fd, Callback callback);
  // `flags` as for unlinkat(2): 0 or AT_REMOVEDIR.
  void UnlinkAt(Completion& c, int dir_fd, const char* path, int flags, Callback callback);
  void RenameAt(Completion& c, int dir_fd, const char* old_path, const char* new_path,
                Callback callback);
  // Completes with result 0 after `duration`, or -ECANCELED if cancelled first.
  void Timeout(Completion& c, absl::Duration duration, Callback callback);
  // Asks the kernel to cancel `target` (which must be in flight). `c` completes with 0 if the
  // target was found, -ENOENT if it had already completed, -EALREADY if it could not be stopped.
  void Cancel(Completion& c, Completion& target, Callback callback);
  // Completes on the next turn without touching the kernel's I/O paths: a way to defer work.
  void Nop(Completion& c, Callback callback);

  // One turn of the loop. Submits everything queued, then waits up to `max_wait` for at least
  // one completion if none is ready (zero: do not wait; infinite: until one completes, which
  // a Wakeup or a Timeout bounds), reaps every ready completion and runs
  // their callbacks. Returns how many callbacks ran. An error means the ring itself failed.
  absl::StatusOr<int> RunOnce(absl::Duration max_wait);

  // Operations started and not yet completed.
  int in_flight() const { return in_flight_; }
  // io_uring_enter calls made so far; tests and benchmarks use it to check batching.
  uint64_t submit_calls() const { return submit_calls_; }

 private:
  Ring() = default;

  void Start(Completion& c, Completion::Op op, Callback callback);
  // Asks the installed fault plan about `c`; true if `c` already completed (injected failure).
  bool InjectFault(Completion& c);
  void QueueUnsubmitted(Completion& c);
  // Moves queued operations into SQEs while there is room.
  void FillSubmissionQueue();
  void Prepare(io_uring_sqe* sqe, Completion& c);
  // Handles one CQE: resubmits partial or interrupted work, else moves `c` to the reaped list.
  void Reap(Completion& c, int32_t result);
  int RunReaped();

  io_uring ring_{};
  bool initialized_ = false;
  int in_flight_ = 0;
  uint64_t submit_calls_ = 0;
  Completion* unsubmitted_head_ = nullptr;
  Completion* unsubmitted_tail_ = nullptr;
  Completion* reaped_head_ = nullptr;
  Completion* reaped_tail_ = nullptr;
};

// Runs `ring` until `done()` is true (checked before each turn), for tools and tests that use
// the ring synchronously. DeadlineExceeded after `timeout`, naming what was awaited.
absl::Status RunUntil(Ring& ring, absl::FunctionRef<bool()> done, absl::Duration timeout,
                      absl::string_view what = "operations to complete");

// errno → absl::Status, naming the operation and the path (or other subject) it concerned.
absl::Status ErrnoToStatus(int error_number, const char* operation, absl::string_view subject);

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_RING_H_
