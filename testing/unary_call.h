// testing/unary_call.h — what every unary handler of the fake Sift server does around its
// work: check the API key, give the fault plan its say, map the result to a grpc::Status and
// count the call.
//
// The order matters and is the one users observe: an unauthenticated call is refused before
// any injected fault (so a wrong key is never hidden behind a fault), and an injected fault
// consumes the call before the registry sees it (so a failed CreateRun creates nothing, and
// the client's retry is the first real attempt).
//
// Example, inside a service:
//
//   grpc::Status StopRun(grpc::ServerContext* context, const StopRunRequest* request,
//                        StopRunResponse*) override {
//     return gate_.Run(*context, [&] { return registry_.StopRun(request->run_id()); });
//   }
//
// Thread-safety: Run and stats may be called concurrently; the counters are atomics.

#ifndef SIFT_STREAM_TESTING_UNARY_CALL_H_
#define SIFT_STREAM_TESTING_UNARY_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"

namespace sift_stream::testing {

// Counts of one service's unary calls, for the server to publish.
struct UnaryStats {
  int64_t calls = 0;     // Every call received.
  int64_t failures = 0;  // Calls answered with anything but OK, for whatever reason.
  int64_t injected_failures = 0;  // Of those, the ones the fault plan caused.
};

// Sift's status codes are gRPC's; absl and gRPC number them the same.
grpc::Status ToGrpcStatus(const absl::Status& status);

class UnaryCallGate {
 public:
  // `auth` and `faults` must outlive the gate; they are typically shared by every service.
  UnaryCallGate(const ApiKeyCheck& auth, FaultController& faults)
      : auth_(auth), faults_(faults) {}

  // Runs `work` (a callable returning absl::Status) if the call is authenticated and the
  // fault plan lets it through; returns the status to send and counts the call.
  template <typename Work>
  grpc::Status Run(const grpc::ServerContextBase& context, Work&& work) {
    calls_.fetch_add(1, std::memory_order_relaxed);
    grpc::Status status = Admit(context);
    if (status.ok()) status = ToGrpcStatus(work());
    if (!status.ok()) failures_.fetch_add(1, std::memory_order_relaxed);
    return status;
  }

  UnaryStats stats() const;

 private:
  grpc::Status Admit(const grpc::ServerContextBase& context);

  const ApiKeyCheck& auth_;
  FaultController& faults_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> injected_failures_{0};
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_UNARY_CALL_H_
