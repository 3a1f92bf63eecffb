// testing/auth.h — the fake server's check of `authorization: Bearer <api key>`.
//
// Every Sift call carries the API key as gRPC metadata. The fake server accepts the keys it
// was given (all keys if none were given) and answers anything else with UNAUTHENTICATED,
// naming what was wrong (missing header, wrong scheme, unknown key) but never echoing a key.

#ifndef SIFT_STREAM_TESTING_AUTH_H_
#define SIFT_STREAM_TESTING_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace sift_stream::testing {

class ApiKeyCheck {
 public:
  // An empty list accepts any well-formed bearer token.
  explicit ApiKeyCheck(const std::vector<std::string>& accepted_keys)
      : keys_(accepted_keys.begin(), accepted_keys.end()) {}

  // OK, or UNAUTHENTICATED saying why.
  grpc::Status Check(const grpc::ServerContextBase& context) const;

 private:
  absl::flat_hash_set<std::string> keys_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_AUTH_H_
