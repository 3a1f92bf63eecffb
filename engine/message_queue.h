// engine/message_queue.h — the bounded queue that carries serialized messages from the
// producers (any thread calling Send) to the reactor.
//
// It is the engine's "backup path": every message the user sends must reach a backup file, so
// a full queue never drops anything — Push() refuses with ResourceExhausted and the caller's
// Send() returns that error. (The live path's drop-oldest rule lives in the ingestion task,
// downstream of this queue, where the dropped message is already on its way to disk.)
//
// Buffers circulate instead of being allocated: Push() swaps the producer's string into a
// slot and hands back the string the slot held before, whose capacity the reactor left behind
// when it took an earlier message. A producer that serializes into the string it got back
// stops allocating once buffers have grown to its message size. The lock is held only for
// those swaps (no copy of message bytes, no allocation under the lock).
//
// Thread-safety: Push() from any number of threads; PopBatch() from the reactor only.
//
//   // producer
//   thread_local std::string buffer;
//   request.SerializeToString(&buffer);
//   if (absl::Status s = queue.Push(buffer); !s.ok()) return s;   // buffer: recycled, empty
//   wakeup.Notify();
//   // reactor
//   size_t n = queue.PopBatch(batch, 256);   // batch[0..n) hold messages, oldest first

#ifndef SIFT_STREAM_ENGINE_MESSAGE_QUEUE_H_
#define SIFT_STREAM_ENGINE_MESSAGE_QUEUE_H_

#include <atomic>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <mutex>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sift_stream::engine {

class MessageQueue {
 public:
  // `capacity` messages at most (the seed's default data capacity is 10,240).
  explicit MessageQueue(size_t capacity);

  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;

  // Takes the bytes of `message`. On success `message` is left empty (holding a recycled
  // buffer). ResourceExhausted when the queue is full and FailedPrecondition after Close(); in
  // both cases `message` is untouched and nothing was queued.
  absl::Status Push(std::string& message);

  // Push() for a caller that must never wait (SiftStream::TrySend): the same contract, but
  // where Push() would wait for the lock (another producer is swapping, or the reactor is
  // taking a batch: microseconds) TryPush() tries for up to 50 µs, spinning, and then refuses
  // with ResourceExhausted, `message` untouched, as for a full queue.
  absl::Status TryPush(std::string& message);

  // Moves up to `max` messages, oldest first, into `batch[0..n)` and returns n. `batch` is
  // resized to at least n; the strings it held are given to the queue for reuse.
  size_t PopBatch(std::vector<std::string>& batch, size_t max);

  // Refuses further pushes (messages already queued can still be popped) with `reason`, or
  // by default with FailedPrecondition saying the stream is finishing.
  void Close(absl::Status reason = absl::Status());

  // Why the queue is full, if something downstream says (e.g. "the backup disk is full"):
  // added to Push()'s ResourceExhausted message. Empty clears it.
  void SetFullReason(std::string reason);

  // A refusal Push() would give right now, found without the lock: OK when there may be room.
  // Lets a producer skip building and serializing a message that would be refused — a
  // producer retrying a full queue flat out spends most of its time there otherwise. Counted
  // in refused() like Push()'s refusals. A stale answer errs either way: a push after OK may
  // still be refused, and a refusal may come a moment after room appeared (retry, as always).
  absl::Status RefuseIfFull();

  // Blocks until the queue is at most half full, it closes, or `timeout` passes; true when
  // there is room. For a producer that outruns the reactor: waiting here costs no CPU, where
  // retrying a refused Push() spins (and takes a core from the reactor on a small host). The
  // reactor signals only while someone waits, and only at the half-way mark, so a burst of
  // pushes follows each wake-up.
  bool WaitForRoom(absl::Duration timeout);

  size_t size() const;
  size_t capacity() const { return slots_.size(); }
  // Pushes refused because the queue was full (or, for TryPush, busy), since construction.
  uint64_t refused() const;
  // Pushes taken since construction: the first pushed() messages popped are exactly those, so
  // a caller can name "everything pushed so far" (SiftStream::Flush does).
  uint64_t pushed() const;

 private:
  // Push()'s body; mu_ held.
  absl::Status PushLocked(std::string& message);
  // Rebuilds full_status_ (mu_ held): the refusal is built once, not per refused push.
  void UpdateFullStatus();

  // std::mutex rather than absl::Mutex: ThreadSanitizer intercepts pthread mutexes, while
  // Debian's Abseil is not instrumented, so TSan could not see absl::Mutex hand-offs.
  mutable std::mutex mu_;
  // All guarded by mu_.
  std::vector<std::string> slots_;
  size_t head_ = 0;  // Oldest message.
  size_t count_ = 0;
  bool closed_ = false;
  absl::Status close_reason_;
  uint64_t refused_ = 0;
  uint64_t pushed_ = 0;
  std::string full_reason_;
  absl::Status full_status_;  // What a push into the full queue returns.
  std::atomic<uint64_t> busy_refused_{0};  // TryPush() and RefuseIfFull() refusals.
  // count_ == capacity, as of the last push or pop; read without the lock by RefuseIfFull().
  std::atomic<bool> full_{false};
  std::condition_variable room_;  // Signalled at half full while waiters_ > 0, and at Close.
  std::atomic<int> waiters_{0};
  // full_status_ for RefuseIfFull(), swapped whole when the reason changes.
  std::shared_ptr<const absl::Status> full_status_shared_;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_MESSAGE_QUEUE_H_
