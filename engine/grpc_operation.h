// engine/grpc_operation.h — the tag every asynchronous gRPC operation of the engine carries.
//
// gRPC hands back an opaque `void* tag` and an `ok` bit when an operation on a CompletionQueue
// finishes. Every tag the engine passes to gRPC is a GrpcOperation that knows its own next step,
// as in gRPC's async examples: the reactor casts the tag back and calls OnComplete. `ok == false`
// means the operation failed (for a stream: it is dead; call Finish to learn why).

#ifndef SIFT_STREAM_ENGINE_GRPC_OPERATION_H_
#define SIFT_STREAM_ENGINE_GRPC_OPERATION_H_

namespace sift_stream::engine {

class GrpcOperation {
 public:
  // Whether the operation should complete promptly (a write, starting a call, a unary call,
  // a checkpoint's Finish) or waits on something far off (an alarm, a watch for the server
  // ending an idle stream). The reactor polls eagerly while the former are outstanding; see
  // completion_queue_poller.h.
  enum class Expect : bool { kSoon, kEventually };

  virtual ~GrpcOperation() = default;
  // Runs on the reactor thread.
  virtual void OnComplete(bool ok) = 0;

  void* tag() { return this; }
  static GrpcOperation* FromTag(void* tag) { return static_cast<GrpcOperation*>(tag); }

 private:
  friend class CompletionQueuePoller;
  Expect expect_ = Expect::kSoon;  // Of the operation in flight; set by the poller.
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_GRPC_OPERATION_H_
