// testing/flow_lookup.h — how the fake ingest service finds the flow a message claims to
// belong to.
//
// The ingest service validates every message against its flow (channel count and types) but
// does not own the registry of ingestion configs: the server assembly adapts its registry to
// this one-method interface, and tests implement it with a small map. Keeping the interface
// this narrow lets the ingest service be built and tested without the config services.
//
// Example:
//
//   class MapFlows : public FlowLookup {
//    public:
//     std::shared_ptr<const FlowConfig> FindFlow(const std::string& config_id,
//                                                const std::string& flow_name) const override;
//   };

#ifndef SIFT_STREAM_TESTING_FLOW_LOOKUP_H_
#define SIFT_STREAM_TESTING_FLOW_LOOKUP_H_

#include <memory>
#include <string>

#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::testing {

class FlowLookup {
 public:
  virtual ~FlowLookup() = default;

  // The flow named `flow_name` registered under ingestion config `config_id`, or nullptr if
  // the config or the flow does not exist. Called once per ingested message, from many
  // threads at once: implementations must be thread-safe and should not block for long. The
  // returned config must not change afterwards (flows are immutable once registered).
  virtual std::shared_ptr<const sift::ingestion_configs::v2::FlowConfig> FindFlow(
      const std::string& config_id, const std::string& flow_name) const = 0;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_FLOW_LOOKUP_H_
