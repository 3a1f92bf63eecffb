#include "testing/unary_call.h"

#include <string>

namespace sift_stream::testing {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::Status UnaryCallGate::Admit(const grpc::ServerContextBase& context) {
  if (grpc::Status status = auth_.Check(context); !status.ok()) return status;
  grpc::Status injected = faults_.CheckUnary();
  if (!injected.ok()) injected_failures_.fetch_add(1, std::memory_order_relaxed);
  return injected;
}

UnaryStats UnaryCallGate::stats() const {
  UnaryStats stats;
  stats.calls = calls_.load(std::memory_order_relaxed);
  stats.failures = failures_.load(std::memory_order_relaxed);
  stats.injected_failures = injected_failures_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace sift_stream::testing
