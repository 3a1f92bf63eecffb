#include "testing/fault_plan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sift_stream::testing {
namespace {

constexpr std::array<std::pair<grpc::StatusCode, const char*>, 17> kCodeNames = {{
    {grpc::StatusCode::OK, "OK"},
    {grpc::StatusCode::CANCELLED, "CANCELLED"},
    {grpc::StatusCode::UNKNOWN, "UNKNOWN"},
    {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
    {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
    {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
    {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
    {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
    {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
    {grpc::StatusCode::ABORTED, "ABORTED"},
    {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
    {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
    {grpc::StatusCode::INTERNAL, "INTERNAL"},
    {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
    {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
    {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
}};

grpc::Status Injected(grpc::StatusCode code, absl::string_view what, int64_t stream_index) {
  return grpc::Status(code, absl::StrCat("fake Sift: injected fault (", what, ") on stream ",
                                         stream_index));
}

}  // namespace

bool StreamSelector::Matches(int64_t stream_index) const {
  if (nth <= 0) return false;
  return every ? stream_index % nth == 0 : stream_index == nth;
}

void FaultController::Set(const FaultPlan& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  plan_ = plan;
}

FaultPlan FaultController::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_;
}

int64_t FaultController::streams_begun() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_;
}

StreamFaults FaultController::BeginStream() {
  std::lock_guard<std::mutex> lock(mu_);
  StreamFaults faults;
  const int64_t index = faults.stream_index = ++streams_;
  if (plan_.reject_all_code != grpc::StatusCode::OK) {
    faults.refuse = Injected(plan_.reject_all_code, "every call rejected", index);
    return faults;
  }
  if (absl::Now() < plan_.refuse_streams_until) {
    faults.refuse = Injected(grpc::StatusCode::UNAVAILABLE, "outage", index);
    return faults;
  }
  if (plan_.end_stream.Matches(index)) {
    faults.end_after_messages = plan_.end_stream_after_messages;
    faults.end_status = Injected(plan_.end_stream_code, "stream ended early", index);
  } else if (plan_.stream_failure_probability > 0) {
    std::mt19937_64 rng(plan_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index));
    if (std::uniform_real_distribution<double>(0, 1)(rng) < plan_.stream_failure_probability) {
      faults.end_after_messages = static_cast<int64_t>(rng() % 1000);
      faults.end_status = Injected(grpc::StatusCode::UNAVAILABLE, "random stream failure", index);
    }
  }
  if (plan_.hang_at_end.Matches(index)) faults.hang_at_end = plan_.hang_at_end_for;
  if (plan_.fail_at_end.Matches(index)) {
    faults.fail_at_end = Injected(plan_.fail_at_end_code, "failed at end of stream", index);
  }
  faults.slow_reader_every = plan_.slow_reader_every;
  faults.slow_reader_sleep = plan_.slow_reader_sleep;
  if (!plan_.refused_flow.empty()) {
    faults.refused_flow = plan_.refused_flow;
    faults.refused_flow_status = Injected(
        plan_.refused_flow_code, absl::StrCat("a message of flow '", plan_.refused_flow, "'"),
        index);
  }
  return faults;
}

grpc::Status FaultController::CheckUnary() {
  std::lock_guard<std::mutex> lock(mu_);
  if (plan_.reject_all_code != grpc::StatusCode::OK) {
    return grpc::Status(plan_.reject_all_code, "fake Sift: injected fault (every call rejected)");
  }
  if (plan_.fail_unary_count > 0) {
    --plan_.fail_unary_count;
    return grpc::Status(plan_.fail_unary_code,
                        absl::StrCat("fake Sift: injected fault (unary call failed, ",
                                     plan_.fail_unary_count, " more to fail)"));
  }
  return grpc::Status::OK;
}

absl::StatusOr<grpc::StatusCode> ParseStatusCode(const std::string& text) {
  int number;
  if (absl::SimpleAtoi(text, &number)) {
    if (number >= 0 && number <= 16) return static_cast<grpc::StatusCode>(number);
  }
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  for (const auto& [code, name] : kCodeNames) {
    if (upper == name) return code;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown gRPC status code '", text, "' (use a name like UNAVAILABLE or 0-16)"));
}

std::string StatusCodeName(grpc::StatusCode code) {
  for (const auto& [c, name] : kCodeNames) {
    if (c == code) return name;
  }
  return absl::StrCat(static_cast<int>(code));
}

}  // namespace sift_stream::testing
