// docs/snippets/compiled_snippets.cc — the C++ examples of README.md, getting_started.md and
// operations.md, compiled (and linked into doc_snippets_test) exactly as the docs show them.
// They talk to the real Sift, so they are not run; the examples that can run against the fake
// server are in doc_snippets_test.cc.

#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "engine/sift_stream.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream_docs {

// README.md's "Using it": the names it leaves to the reader are the parameters.
absl::Status ReadmeExample(const sift::ingestion_configs::v2::FlowConfig& imu_flow,
                           const std::string& key, double ax, double ay) {
#include "docs/snippets/README_1.inc"
  if (!sent.ok() || !durable.ok()) return !sent.ok() ? sent : durable;
  return unconfirmed;
}

// getting_started.md's "Using the library" is a whole function.
#include "docs/snippets/getting_started_1.inc"

// operations.md's "Serving metrics".
absl::Status OperationsExample() {
  using sift_stream::SiftStreamBuilder;
#include "docs/snippets/operations_1.inc"
  return where.empty() ? absl::InternalError("no metrics address") : absl::OkStatus();
}

}  // namespace sift_stream_docs
