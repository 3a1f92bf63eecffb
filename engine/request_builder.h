// engine/request_builder.h — turns Send()'s arguments into a validated ingest request.
//
// Sift accepts a message only if it names a registered flow and carries one value per channel
// of that flow, in order, each of the channel's type (or "empty": no new value). Rejected data
// is not an error on the stream — Sift drops it into an error queue — so the client is the last
// place a mistake can be reported to the code that made it. RequestBuilder checks every message
// against the declared flows and says exactly what is wrong: which flow, which channel, what
// type was expected and what was given.
//
// The flows are indexed once (by name, in a hash map) and never change afterwards, so any number
// of producer threads may use one RequestBuilder at once without locks. A stream that changes
// course (attaches a run, adds flows) does not change a builder: it makes a new one with
// WithRunId or WithFlows and publishes it (engine/stream_state.h).

#ifndef SIFT_STREAM_ENGINE_REQUEST_BUILDER_H_
#define SIFT_STREAM_ENGINE_REQUEST_BUILDER_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::engine {

// One channel's value for Send(). Build with the named constructors; `Empty()` means "no new
// value for this channel at this timestamp".
class ChannelValue {
 public:
  static ChannelValue Double(double v) { return ChannelValue(v); }
  static ChannelValue Float(float v) { return ChannelValue(v); }
  static ChannelValue Bool(bool v) { return ChannelValue(v); }
  static ChannelValue Int32(int32_t v) { return ChannelValue(v); }
  static ChannelValue Uint32(uint32_t v) { return ChannelValue(v); }
  static ChannelValue Int64(int64_t v) { return ChannelValue(v); }
  static ChannelValue Uint64(uint64_t v) { return ChannelValue(v); }
  static ChannelValue String(std::string v) { return ChannelValue(Text{std::move(v)}); }
  static ChannelValue Enum(uint32_t key) { return ChannelValue(EnumKey{key}); }
  static ChannelValue BitField(std::string bits) { return ChannelValue(Bits{std::move(bits)}); }
  static ChannelValue Bytes(std::string bytes) { return ChannelValue(Blob{std::move(bytes)}); }
  static ChannelValue Empty() { return ChannelValue(std::monostate{}); }

  // The channel data type this value is for (UNSPECIFIED for Empty()).
  sift::common::type::v1::ChannelDataType type() const;
  // Sets `out` to this value.
  void CopyTo(sift::ingest::v1::IngestWithConfigDataChannelValue* out) const;
  // The most bytes EncodeTo() writes, and writes this value as one channel_values entry of
  // an IngestWithConfigDataStreamRequest (field 4, with its tag), exactly as protobuf's
  // serializer would; returns the end of what it wrote.
  size_t MaxEncodedSize() const;
  char* EncodeTo(char* p) const;

 private:
  struct Text { std::string value; };
  struct EnumKey { uint32_t key; };
  struct Bits { std::string value; };
  struct Blob { std::string value; };
  using Storage = std::variant<std::monostate, double, float, bool, int32_t, uint32_t, int64_t,
                               uint64_t, Text, EnumKey, Bits, Blob>;
  template <typename T>
  explicit ChannelValue(T v) : value_(std::move(v)) {}
  Storage value_;
};

class RequestBuilder {
 public:
  RequestBuilder(std::string ingestion_config_id, std::string run_id,
                 const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows);

  // Fills `request` (cleared first, so a thread may reuse one) or says what is wrong
  // (InvalidArgument); on error `request` is unspecified.
  absl::Status Build(absl::string_view flow, absl::Time timestamp,
                     absl::Span<const ChannelValue> values,
                     sift::ingest::v1::IngestWithConfigDataStreamRequest* request) const;

  // Build() and serialization in one step, without the protobuf object: `out` is set to the
  // bytes SerializeAsString() of Build()'s request would give (tested for every value type),
  // or an error is returned, the same as Build()'s. What Send() uses.
  absl::Status Encode(absl::string_view flow, absl::Time timestamp,
                      absl::Span<const ChannelValue> values, std::string* out) const;

  // Checks a request the caller built; fills in the config id and run id when left empty.
  absl::Status Complete(sift::ingest::v1::IngestWithConfigDataStreamRequest* request) const;

  const std::string& ingestion_config_id() const { return ingestion_config_id_; }
  // Empty without a run.
  const std::string& run_id() const { return run_id_; }
  // In the order declared, then added.
  const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows() const { return flows_; }
  // The flow named `flow`, or nullptr; the pointer lives as long as this builder.
  const sift::ingestion_configs::v2::FlowConfig* Find(absl::string_view flow) const;
  // The flow `values` are for, once they fit it (count and types); Build's and Encode's errors.
  absl::StatusOr<const sift::ingestion_configs::v2::FlowConfig*> Check(
      absl::string_view flow, absl::Span<const ChannelValue> values) const;

  // A copy that stamps `run_id` (empty: none) on the requests it builds.
  RequestBuilder WithRunId(std::string run_id) const;
  // A copy that also knows `more` (whose names must be new to this builder).
  RequestBuilder WithFlows(const std::vector<sift::ingestion_configs::v2::FlowConfig>& more) const;

 private:

  std::string ingestion_config_id_;
  std::string run_id_;
  std::vector<sift::ingestion_configs::v2::FlowConfig> flows_;
  absl::flat_hash_map<std::string, size_t> by_name_;
};

// "unknown flow '<flow>': ..." — what Send, Flow() and the builder say of a flow the stream
// does not know.
std::string UnknownFlowMessage(absl::string_view flow);

// "double", "string", ... for messages.
absl::string_view ChannelTypeName(sift::common::type::v1::ChannelDataType type);

// "(a: double, b: string)": a flow's shape, for messages.
std::string DescribeChannels(const sift::ingestion_configs::v2::FlowConfig& flow);

// The flow a first message implies (SiftStreamBuilder::AutoRegisterFlows): named `flow`, one
// channel per value, named "channel_0", "channel_1", ... in order, each of its value's type.
// InvalidArgument when a value is empty (its type is unknown) or there are no values.
absl::StatusOr<sift::ingestion_configs::v2::FlowConfig> InferFlow(
    absl::string_view flow, absl::Span<const ChannelValue> values);
absl::StatusOr<sift::ingestion_configs::v2::FlowConfig> InferFlow(
    absl::string_view flow,
    const google::protobuf::RepeatedPtrField<sift::ingest::v1::IngestWithConfigDataChannelValue>&
        values);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_REQUEST_BUILDER_H_
