// engine/stream_state.h — what a running stream stamps on every message (ingestion config,
// run, flows), published to any number of producer threads without a lock on the hot path.
//
// A stream's course can change while it streams (SiftStream::AttachRun, DetachRun, AddFlows,
// auto-registered flows), but each message must be built against one consistent view. The
// view is an immutable RequestBuilder; a change builds a new one and publishes it. Producers
// read it through a per-thread cache that is checked against a generation counter: one atomic
// load per message while nothing changes (no lock, no reference-count traffic on a shared
// cache line), a short lock only on the first message after a change.
//
// Ordering: Publish() takes effect for every ForThisThread()/Load() that starts after it
// returns (on the same thread, or on one that synchronized with it); a read racing with it
// sees the old or the new builder, never a mix.
//
//   StreamState state(RequestBuilder(config_id, "", flows));
//   const RequestBuilder& requests = state.ForThisThread();   // producer, per message
//   requests.Build(...);
//   state.Publish(state.Load().builder->WithRunId(run_id));   // a change, any thread
//
// Lifetime: ForThisThread()'s reference is valid until the same thread calls ForThisThread()
// again, on any StreamState. A thread's cache keeps the last builder it used alive until the
// thread uses another stream or exits. One thread alternating between two streams takes the
// lock on every message: correct, slower.

#ifndef SIFT_STREAM_ENGINE_STREAM_STATE_H_
#define SIFT_STREAM_ENGINE_STREAM_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engine/request_builder.h"

namespace sift_stream::engine {

class StreamState {
 public:
  struct Snapshot {
    std::shared_ptr<const RequestBuilder> builder;
    uint64_t generation = 0;  // Of `builder`; see generation().
  };

  explicit StreamState(RequestBuilder initial);
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;

  // The current builder, from this thread's cache when nothing was published since.
  const RequestBuilder& ForThisThread() const;

  // The current builder and its generation, under the lock (for changes and slow paths).
  Snapshot Load() const;

  // Bumped by every Publish(): a reader that kept a generation knows it is stale when this
  // differs (FlowWriter re-reads the run id then). Acquire: a reader that sees the new value
  // and then calls Load() gets the new builder.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Makes `next` current. Callers serialize their read-modify-publish sequences themselves
  // (SiftStream holds its changes mutex), so that two changes cannot overwrite each other.
  void Publish(RequestBuilder next);

 private:
  // Distinguishes streams in the per-thread cache; never reused, unlike addresses.
  const uint64_t id_;
  mutable std::mutex mu_;
  std::shared_ptr<const RequestBuilder> current_;  // Guarded by mu_.
  std::atomic<uint64_t> generation_{1};            // Written under mu_.
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_STREAM_STATE_H_
