#include "engine/request_builder.h"

#include "absl/strings/str_cat.h"

namespace sift_stream::engine {
namespace {

using sift::common::type::v1::ChannelDataType;
using sift::ingest::v1::IngestWithConfigDataChannelValue;
using Value = IngestWithConfigDataChannelValue;

ChannelDataType TypeOf(const Value& value) {
  switch (value.type_case()) {
    case Value::kString:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_STRING;
    case Value::kDouble:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE;
    case Value::kFloat:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT;
    case Value::kBool:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL;
    case Value::kInt32:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32;
    case Value::kUint32:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32;
    case Value::kInt64:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64;
    case Value::kUint64:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64;
    case Value::kBitField:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD;
    case Value::kEnum:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM;
    case Value::kBytes:
      return sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES;
    case Value::kEmpty:
    case Value::TYPE_NOT_SET:
      break;
  }
  return sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED;
}

// Why `values` do not fit `flow`, or OK.
absl::Status CheckValues(const sift::ingestion_configs::v2::FlowConfig& flow,
                         const google::protobuf::RepeatedPtrField<Value>& values) {
  if (values.size() != flow.channels_size()) {
    return absl::InvalidArgumentError(absl::StrCat("flow '", flow.name(), "' has ",
                                                   flow.channels_size(), " channels but ",
                                                   values.size(), " values were given"));
  }
  for (int i = 0; i < values.size(); ++i) {
    const Value& value = values[i];
    if (value.type_case() == Value::kEmpty) continue;
    const auto& channel = flow.channels(i);
    if (value.type_case() == Value::TYPE_NOT_SET || TypeOf(value) != channel.data_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flow '", flow.name(), "', channel ", i, " '", channel.name(), "' is ",
          ChannelTypeName(channel.data_type()), " but the value is ",
          value.type_case() == Value::TYPE_NOT_SET ? "unset" : ChannelTypeName(TypeOf(value))));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ChannelTypeName(ChannelDataType type) {
  switch (type) {
    case sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE: return "double";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_STRING: return "string";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM: return "enum";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD: return "bit field";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL: return "bool";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT: return "float";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32: return "int32";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32: return "uint32";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64: return "int64";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64: return "uint64";
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES: return "bytes";
    default: return "unspecified";
  }
}

std::string DescribeChannels(const sift::ingestion_configs::v2::FlowConfig& flow) {
  std::string out = "(";
  for (int i = 0; i < flow.channels_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", flow.channels(i).name(), ": ",
                    ChannelTypeName(flow.channels(i).data_type()));
  }
  return absl::StrCat(out, ")");
}

absl::StatusOr<sift::ingestion_configs::v2::FlowConfig> InferFlow(
    absl::string_view flow, const google::protobuf::RepeatedPtrField<Value>& values) {
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot register flow '", flow, "' from a message without values"));
  }
  sift::ingestion_configs::v2::FlowConfig config;
  config.set_name(std::string(flow));
  for (int i = 0; i < values.size(); ++i) {
    const ChannelDataType type = TypeOf(values[i]);
    if (type == sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot register flow '", flow, "' from this message: value ", i,
          " is empty, so its channel's type is unknown; set every value in the first message "
          "of a flow, or declare the flow with AddFlows()"));
    }
    auto* channel = config.add_channels();
    channel->set_name(absl::StrCat("channel_", i));
    channel->set_data_type(type);
  }
  return config;
}

absl::StatusOr<sift::ingestion_configs::v2::FlowConfig> InferFlow(
    absl::string_view flow, absl::Span<const ChannelValue> values) {
  google::protobuf::RepeatedPtrField<Value> protos;
  for (const ChannelValue& value : values) value.CopyTo(protos.Add());
  return InferFlow(flow, protos);
}

ChannelDataType ChannelValue::type() const {
  Value proto;
  CopyTo(&proto);
  return TypeOf(proto);
}

void ChannelValue::CopyTo(Value* out) const {
  struct Visitor {
    Value* out;
    void operator()(std::monostate) { out->mutable_empty(); }
    void operator()(double v) { out->set_double_(v); }
    void operator()(float v) { out->set_float_(v); }
    void operator()(bool v) { out->set_bool_(v); }
    void operator()(int32_t v) { out->set_int32(v); }
    void operator()(uint32_t v) { out->set_uint32(v); }
    void operator()(int64_t v) { out->set_int64(v); }
    void operator()(uint64_t v) { out->set_uint64(v); }
    void operator()(const Text& v) { out->set_string(v.value); }
    void operator()(EnumKey v) { out->set_enum_(v.key); }
    void operator()(const Bits& v) { out->set_bit_field(v.value); }
    void operator()(const Blob& v) { out->set_bytes(v.value); }
  };
  std::visit(Visitor{out}, value_);
}

RequestBuilder::RequestBuilder(std::string ingestion_config_id, std::string run_id,
                               const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows)
    : ingestion_config_id_(std::move(ingestion_config_id)),
      run_id_(std::move(run_id)),
      flows_(flows) {
  for (size_t i = 0; i < flows_.size(); ++i) by_name_.emplace(flows_[i].name(), i);
}

RequestBuilder RequestBuilder::WithRunId(std::string run_id) const {
  RequestBuilder copy = *this;
  copy.run_id_ = std::move(run_id);
  return copy;
}

RequestBuilder RequestBuilder::WithFlows(
    const std::vector<sift::ingestion_configs::v2::FlowConfig>& more) const {
  RequestBuilder copy = *this;
  for (const auto& flow : more) {
    if (copy.by_name_.emplace(flow.name(), copy.flows_.size()).second) copy.flows_.push_back(flow);
  }
  return copy;
}

const sift::ingestion_configs::v2::FlowConfig* RequestBuilder::Find(absl::string_view flow) const {
  auto it = by_name_.find(flow);
  return it == by_name_.end() ? nullptr : &flows_[it->second];
}

absl::Status RequestBuilder::Build(absl::string_view flow, absl::Time timestamp,
                                   absl::Span<const ChannelValue> values,
                                   sift::ingest::v1::IngestWithConfigDataStreamRequest* request)
    const {
  const auto* config = Find(flow);
  if (config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flow '", flow,
                     "': declare it in the ingestion config or add it with AddFlows"));
  }
  // Not Clear(): that frees the timestamp sub-message, so every message would allocate a new
  // one. The fields set below are overwritten; the others are cleared here.
  request->clear_channel_values();  // Keeps the value sub-messages for reuse.
  request->clear_run_id();
  request->clear_end_stream_on_validation_error();
  request->clear_organization_id();
  request->set_ingestion_config_id(ingestion_config_id_);
  request->set_flow(config->name());
  const int64_t nanos = absl::ToUnixNanos(timestamp);
  auto* ts = request->mutable_timestamp();
  ts->set_seconds(nanos >= 0 ? nanos / 1000000000 : (nanos - 999999999) / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos - ts->seconds() * 1000000000));
  if (!run_id_.empty()) request->set_run_id(run_id_);
  for (const ChannelValue& value : values) value.CopyTo(request->add_channel_values());
  return CheckValues(*config, request->channel_values());
}

absl::Status RequestBuilder::Complete(
    sift::ingest::v1::IngestWithConfigDataStreamRequest* request) const {
  if (request->ingestion_config_id().empty()) {
    request->set_ingestion_config_id(ingestion_config_id_);
  } else if (request->ingestion_config_id() != ingestion_config_id_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request names ingestion config ", request->ingestion_config_id(),
        " but this stream streams into ", ingestion_config_id_));
  }
  if (request->run_id().empty() && !run_id_.empty()) request->set_run_id(run_id_);
  const auto* config = Find(request->flow());
  if (config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flow '", request->flow(),
                     "': declare it in the ingestion config or add it with AddFlows"));
  }
  if (!request->has_timestamp()) return absl::InvalidArgumentError("the request has no timestamp");
  return CheckValues(*config, request->channel_values());
}

}  // namespace sift_stream::engine
