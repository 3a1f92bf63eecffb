#include "testing/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace sift_stream::testing {

grpc::Status ApiKeyCheck::Check(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "fake Sift: missing 'authorization: Bearer <api key>' metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme) || value.size() == kScheme.size()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "fake Sift: authorization metadata is not 'Bearer <api key>'");
  }
  absl::string_view key = value.substr(kScheme.size());
  if (!keys_.empty() && !keys_.contains(key)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "fake Sift: unknown API key");
  }
  return grpc::Status::OK;
}

}  // namespace sift_stream::testing
