#include "engine/completion_queue_poller.h"

#include <algorithm>
#include <cassert>

namespace sift_stream::engine {

void CompletionQueuePoller::Started(GrpcOperation& op, GrpcOperation::Expect expect) {
  op.expect_ = expect;
  if (expect == GrpcOperation::Expect::kSoon) {
    ++soon_;
  } else {
    ++eventually_;
  }
}

void CompletionQueuePoller::Reclassify(GrpcOperation& op, GrpcOperation::Expect expect) {
  if (op.expect_ == expect) return;
  if (expect == GrpcOperation::Expect::kSoon) {
    --eventually_;
    ++soon_;
  } else {
    --soon_;
    ++eventually_;
  }
  op.expect_ = expect;
  if (expect == GrpcOperation::Expect::kSoon) quiet_wait_ = options_.soon_wait;
}

int CompletionQueuePoller::Poll() {
  if (outstanding() == 0) return 0;  // Nothing can arrive; skip gRPC's poller entirely.
  int dispatched = 0;
  void* tag;
  bool ok;
  while (cq_->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) ==
         grpc::CompletionQueue::GOT_EVENT) {
    GrpcOperation* op = GrpcOperation::FromTag(tag);
    if (op->expect_ == GrpcOperation::Expect::kSoon) {
      --soon_;
    } else {
      --eventually_;
    }
    ++dispatched;
    op->OnComplete(ok);  // May start new operations.
  }
  events_ += dispatched;
  if (soon_ > 0) {
    quiet_wait_ = options_.soon_wait;
  } else if (dispatched > 0) {
    quiet_wait_ = options_.soon_wait;  // Start the climb from the bottom after any event.
  } else {
    quiet_wait_ = std::clamp(quiet_wait_ * 2, options_.soon_wait, options_.max_wait);
  }
  return dispatched;
}

absl::Duration CompletionQueuePoller::NextWait() const {
  return outstanding() == 0 ? absl::InfiniteDuration() : quiet_wait_;
}

void CompletionQueuePoller::Shutdown() {
  assert(outstanding() == 0 && "shut the queue down only after every operation completed");
  cq_->Shutdown();
  void* tag;
  bool ok;
  while (cq_->Next(&tag, &ok)) GrpcOperation::FromTag(tag)->OnComplete(ok);
}

}  // namespace sift_stream::engine
