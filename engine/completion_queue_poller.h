// engine/completion_queue_poller.h — how the reactor thread waits on gRPC and io_uring at once.
//
// A grpc::CompletionQueue has no file descriptor that io_uring could wait on (gRPC issues 14796,
// 20194, 31696). The reactor therefore polls the queue with a zero deadline on every turn of
// its loop, and bounds its io_uring wait by `NextWait()`. gRPC does its socket work inside the
// thread that polls it, so the bound also decides how promptly gRPC's I/O advances:
//   - `soon_wait` while an operation that should complete promptly is outstanding (a write,
//     the start of a call, WritesDone, the checkpoint's Finish, a unary call). gRPC completes
//     buffered writes at once, so each turn dispatches hundreds of them; sleeping between
//     turns (rather than spinning) leaves the second core to gRPC and the server, which
//     measured 2.5x faster than spinning on 2 cores;
//   - doubling from `soon_wait` up to `max_wait` while only operations that wait on something
//     far off are outstanding (an alarm, a watch for the server ending an idle stream): these
//     cost almost no CPU and are noticed within `max_wait`. Anything that needs gRPC to keep
//     moving bytes (even a final Finish) must be kSoon: gRPC only advances while polled;
//   - unbounded when no gRPC operation is outstanding.
// Everything else that wakes the reactor (a producer's Send, a timer, disk I/O) arrives through
// the ring and ends the wait at once.
//
// A thread blocked in cq->Next() that forwards events through an eventfd was measured against
// this and streamed 8-20x slower with one write in flight: every write completion became two
// cross-thread wake-ups. See docs/architecture.md, "Waiting on two queues", and
// engine/reactor_wait_benchmark.cc.
//
// Thread-compatibility: all methods run on the reactor thread.

#ifndef SIFT_STREAM_ENGINE_COMPLETION_QUEUE_POLLER_H_
#define SIFT_STREAM_ENGINE_COMPLETION_QUEUE_POLLER_H_

#include <grpcpp/completion_queue.h>

#include <cstdint>

#include "absl/time/time.h"
#include "engine/grpc_operation.h"

namespace sift_stream::engine {

class CompletionQueuePoller {
 public:
  struct Options {
    // 150 µs rather than 50: paced at 250 k msgs/s the engine used 1.06-1.10x the plain
    // client's CPU per message instead of 1.14-1.25x, with the same flat-out throughput and
    // Send p99 8.5 µs instead of 1.5 (docs/performance.md, finding 1).
    absl::Duration soon_wait = absl::Microseconds(150);
    absl::Duration max_wait = absl::Milliseconds(10);
  };

  // `cq` must outlive the poller and carry only GrpcOperation tags.
  explicit CompletionQueuePoller(grpc::CompletionQueue* cq) : CompletionQueuePoller(cq, {}) {}
  CompletionQueuePoller(grpc::CompletionQueue* cq, Options options)
      : cq_(cq), options_(options) {}

  // Call right before starting an operation on the queue with `op`'s tag; each operation
  // yields exactly one event.
  void Started(GrpcOperation& op, GrpcOperation::Expect expect);
  int64_t outstanding() const { return soon_ + eventually_; }
  // Changes what is expected of an operation already started (e.g. a stream's Read becomes
  // urgent once WritesDone was sent: it now carries the acknowledgement).
  void Reclassify(GrpcOperation& op, GrpcOperation::Expect expect);

  // Dispatches every event ready now to its GrpcOperation; returns how many.
  int Poll();

  // How long the reactor may block in io_uring before it must call Poll() again.
  absl::Duration NextWait() const;

  // After every outstanding operation has completed: shuts the queue down and drains it.
  void Shutdown();

  uint64_t events() const { return events_; }

 private:
  grpc::CompletionQueue* const cq_;
  const Options options_;
  int64_t soon_ = 0;
  int64_t eventually_ = 0;
  absl::Duration quiet_wait_ = absl::ZeroDuration();
  uint64_t events_ = 0;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_COMPLETION_QUEUE_POLLER_H_
