#include "testing/ingest_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/sift/common/type/v1/channel_data_type.pb.h"

namespace sift_stream::testing {
namespace {

using ::sift::common::type::v1::ChannelDataType;
using ::sift::ingest::v1::IngestWithConfigDataChannelValue;
using ::sift::ingest::v1::IngestWithConfigDataStreamRequest;
using TypeCase = IngestWithConfigDataChannelValue::TypeCase;

// Injected waits re-check cancellation and shutdown this often: the bound on how long a
// cancelled or shut-down stream lingers.
constexpr absl::Duration kPauseStep = absl::Milliseconds(5);

// The one value case each channel type accepts (besides `empty`); TYPE_NOT_SET for types
// that accept none (UNSPECIFIED, or a number this build does not know).
TypeCase CaseFor(ChannelDataType type) {
  using Value = IngestWithConfigDataChannelValue;
  namespace types = ::sift::common::type::v1;
  switch (type) {
    case types::CHANNEL_DATA_TYPE_DOUBLE:
      return Value::kDouble;
    case types::CHANNEL_DATA_TYPE_FLOAT:
      return Value::kFloat;
    case types::CHANNEL_DATA_TYPE_STRING:
      return Value::kString;
    case types::CHANNEL_DATA_TYPE_BOOL:
      return Value::kBool;
    case types::CHANNEL_DATA_TYPE_INT_32:
      return Value::kInt32;
    case types::CHANNEL_DATA_TYPE_UINT_32:
      return Value::kUint32;
    case types::CHANNEL_DATA_TYPE_INT_64:
      return Value::kInt64;
    case types::CHANNEL_DATA_TYPE_UINT_64:
      return Value::kUint64;
    case types::CHANNEL_DATA_TYPE_ENUM:
      return Value::kEnum;
    case types::CHANNEL_DATA_TYPE_BIT_FIELD:
      return Value::kBitField;
    case types::CHANNEL_DATA_TYPE_BYTES:
      return Value::kBytes;
    default:
      return Value::TYPE_NOT_SET;
  }
}

// The oneof case's field name as in the .proto ("double", "bit_field", ...).
std::string CaseName(TypeCase value_case) {
  if (value_case == IngestWithConfigDataChannelValue::TYPE_NOT_SET) return "no value (unset)";
  const auto* field = IngestWithConfigDataChannelValue::descriptor()->FindFieldByNumber(
      static_cast<int>(value_case));
  return field != nullptr ? field->name() : absl::StrCat("field #", value_case);
}

std::string TypeName(ChannelDataType type) {
  const std::string& name = sift::common::type::v1::ChannelDataType_Name(type);
  return name.empty() ? absl::StrCat("data type ", static_cast<int>(type)) : name;
}

// Reads a raw stream to its end, counting messages and bytes; refuses a bad API key at once.
class SinkReader : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  SinkReader(IngestRecorder* recorder, grpc::Status auth) : recorder_(recorder) {
    recorder_->SinkStreamOpened();
    if (!auth.ok()) {
      recorder_->SinkStreamRefused();
      Finish(std::move(auth));
      return;
    }
    StartRead(&buffer_);
  }

  void OnReadDone(bool ok) override {
    // !ok: the client half-closed (or the call died, when the status no longer matters).
    if (!ok) return Finish(grpc::Status::OK);
    recorder_->SinkReceived(static_cast<int64_t>(buffer_.Length()));
    buffer_.Clear();
    StartRead(&buffer_);
  }

  void OnDone() override { delete this; }

 private:
  IngestRecorder* recorder_;
  grpc::ByteBuffer buffer_;
};

}  // namespace

MessageKey KeyOf(const IngestWithConfigDataStreamRequest& request) {
  MessageKey key;
  key.ingestion_config_id = request.ingestion_config_id();
  key.flow = request.flow();
  key.timestamp_seconds = request.timestamp().seconds();
  key.timestamp_nanos = request.timestamp().nanos();
  key.run_id = request.run_id();
  return key;
}

std::string ValidateRequest(const IngestWithConfigDataStreamRequest& request,
                            const FlowLookup& flows) {
  std::shared_ptr<const sift::ingestion_configs::v2::FlowConfig> flow =
      flows.FindFlow(request.ingestion_config_id(), request.flow());
  if (flow == nullptr) {
    return absl::StrCat("no flow '", request.flow(), "' in ingestion config '",
                        request.ingestion_config_id(), "' (or no such config)");
  }
  if (request.channel_values_size() != flow->channels_size()) {
    return absl::StrCat("flow '", request.flow(), "' has ", flow->channels_size(),
                        " channels but the message has ", request.channel_values_size(), " values");
  }
  for (int i = 0; i < request.channel_values_size(); ++i) {
    const TypeCase value_case = request.channel_values(i).type_case();
    if (value_case == IngestWithConfigDataChannelValue::kEmpty) continue;
    const auto& channel = flow->channels(i);
    if (value_case == IngestWithConfigDataChannelValue::TYPE_NOT_SET ||
        value_case != CaseFor(channel.data_type())) {
      return absl::StrCat("value ", i, " (channel '", channel.name(), "', ",
                          TypeName(channel.data_type()), ") holds ", CaseName(value_case));
    }
  }
  return "";
}

IngestServiceImpl::IngestServiceImpl(const FlowLookup* flows, FaultController* faults,
                                     IngestRecorder* recorder, const ApiKeyCheck* auth)
    : flows_(flows), faults_(faults), recorder_(recorder), auth_(auth) {}

grpc::Status IngestServiceImpl::IngestWithConfigDataStream(
    grpc::ServerContext* context, grpc::ServerReader<Request>* reader,
    sift::ingest::v1::IngestWithConfigDataStreamResponse* /*response*/) {
  IngestRecorder::Stream stream = recorder_->BeginStream();
  // Authentication comes first, so a bad key does not use up a fault plan stream number.
  if (grpc::Status auth = auth_->Check(*context); !auth.ok()) {
    stream.RefusedUnauthenticated();
    return auth;
  }
  const StreamFaults faults = faults_->BeginStream();
  if (faults.refuse.has_value()) {
    stream.Refused();
    return *faults.refuse;
  }
  if (std::optional<grpc::Status> ended = ReadAll(context, reader, faults, stream)) {
    return *ended;
  }
  return Finish(context, faults, stream);
}

std::optional<grpc::Status> IngestServiceImpl::ReadAll(grpc::ServerContext* context,
                                                       grpc::ServerReader<Request>* reader,
                                                       const StreamFaults& faults,
                                                       IngestRecorder::Stream& stream) {
  Request request;  // Reused: Read() overwrites it, keeping the allocations.
  int64_t index = 0;
  int64_t valid = 0;
  while (true) {
    // Checked before reading, so that K = 0 ends the stream before its first message.
    if (faults.end_after_messages.has_value() && valid >= *faults.end_after_messages) {
      stream.Failed();
      return faults.end_status;
    }
    if (!reader->Read(&request)) break;
    if (!faults.refused_flow.empty() && request.flow() == faults.refused_flow) {
      stream.Failed();
      return faults.refused_flow_status;
    }
    const auto size_bytes = static_cast<int64_t>(request.ByteSizeLong());
    std::string invalid = ValidateRequest(request, *flows_);
    if (invalid.empty()) {
      stream.Received(KeyOf(request), size_bytes);
      ++valid;
    } else {
      stream.Invalid(size_bytes);
      if (request.end_stream_on_validation_error()) {
        stream.Failed();
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("fake Sift: message ", index,
                                         " of the stream (counting from 0) is invalid: ", invalid));
      }
    }
    ++index;
    if (faults.slow_reader_every > 0 && index % faults.slow_reader_every == 0) {
      Pause(context, faults.slow_reader_sleep);  // Cut short: the next Read() tells why.
    }
  }
  // Read() returns false both when the client half-closes and when the call dies.
  if (context->IsCancelled()) {
    stream.Failed();
    return grpc::Status(grpc::StatusCode::CANCELLED, "fake Sift: the stream was cancelled");
  }
  return std::nullopt;
}

grpc::Status IngestServiceImpl::Finish(grpc::ServerContext* context, const StreamFaults& faults,
                                       IngestRecorder::Stream& stream) {
  if (faults.hang_at_end > absl::ZeroDuration() && !Pause(context, faults.hang_at_end)) {
    stream.Failed();
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "fake Sift: cancelled while hanging");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "fake Sift: shutting down during an injected hang at end of stream");
  }
  if (faults.fail_at_end.has_value()) {
    stream.Failed();
    return *faults.fail_at_end;
  }
  // Committed before the handler returns, hence before the client can see the OK.
  stream.Completed();
  return grpc::Status::OK;
}

bool IngestServiceImpl::Pause(grpc::ServerContext* context, absl::Duration duration) const {
  const absl::Time until = absl::Now() + duration;
  while (true) {
    if (shutting_down_.load(std::memory_order_relaxed) || context->IsCancelled()) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, kPauseStep));
  }
}

grpc::ServerReadReactor<grpc::ByteBuffer>* SinkIngestService::IngestWithConfigDataStream(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  // The empty response serializes to zero bytes, but gRPC needs a real buffer to send.
  grpc::Slice empty;
  *response = grpc::ByteBuffer(&empty, 1);
  return new SinkReader(recorder_, auth_->Check(*context));
}

}  // namespace sift_stream::testing
