#include "engine/request_builder.h"

#include <cstring>
#include <variant>

#include "engine/wire_format.h"

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
  google::protobuf::RepeatedPtrField<Value> protos;  // Off the hot path: once per new flow.
  for (const ChannelValue& value : values) value.CopyTo(protos.Add());
  return InferFlow(flow, protos);
}

std::string UnknownFlowMessage(absl::string_view flow) {
  return absl::StrCat("unknown flow '", flow,
                      "': declare it in the ingestion config or add it with AddFlows");
}

ChannelDataType ChannelValue::type() const {
  using T = sift::common::type::v1::ChannelDataType;
  static constexpr T kTypes[] = {
      sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED,  // Empty()
      sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE,
      sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT,
      sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL,
      sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32,
      sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32,
      sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64,
      sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64,
      sift::common::type::v1::CHANNEL_DATA_TYPE_STRING,
      sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM,
      sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD,
      sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES,
  };
  static_assert(sizeof(kTypes) / sizeof(kTypes[0]) == std::variant_size_v<Storage>);
  return kTypes[value_.index()];
}

namespace {

using wire::k32Bit;
using wire::k64Bit;
using wire::kLengthDelimited;
using wire::kMaxVarintBytes;
using wire::kVarint;
using wire::PutString;
using wire::PutTag;
using wire::PutVarint;
using wire::VarintSize;
// A channel_values entry whose oneof member `field` is a varint.
char* PutVarintValue(uint32_t field, uint64_t value, char* p) {
  p = PutTag(4, kLengthDelimited, p);
  *p++ = static_cast<char>(1 + VarintSize(value));
  p = PutTag(field, kVarint, p);
  return PutVarint(value, p);
}

char* PutTextValue(uint32_t field, const std::string& text, char* p) {
  p = PutTag(4, kLengthDelimited, p);
  p = PutVarint(1 + VarintSize(text.size()) + text.size(), p);
  return PutString(field, text, p);
}

}  // namespace

size_t ChannelValue::MaxEncodedSize() const {
  constexpr size_t kFrame = 1 + 5 + 1 + kMaxVarintBytes;  // Tag, length, member tag, varint.
  switch (value_.index()) {
    case 8: return kFrame + std::get<Text>(value_).value.size();
    case 10: return kFrame + std::get<Bits>(value_).value.size();
    case 11: return kFrame + std::get<Blob>(value_).value.size();
    default: return kFrame;
  }
}

// Field numbers of the value's oneof: string 1, double 2, float 3, bool 4, int32 5, uint32 6,
// int64 7, uint64 8, bit_field 9, enum 10, empty 11, bytes 12.
char* ChannelValue::EncodeTo(char* p) const {
  switch (value_.index()) {
    case 0:  // Empty(): an empty google.protobuf.Empty message.
      p = PutTag(4, kLengthDelimited, p);
      *p++ = 2;
      p = PutTag(11, kLengthDelimited, p);
      *p++ = 0;
      return p;
    case 1: {
      p = PutTag(4, kLengthDelimited, p);
      *p++ = 9;
      p = PutTag(2, k64Bit, p);
      std::memcpy(p, &std::get<double>(value_), 8);
      return p + 8;
    }
    case 2: {
      p = PutTag(4, kLengthDelimited, p);
      *p++ = 5;
      p = PutTag(3, k32Bit, p);
      std::memcpy(p, &std::get<float>(value_), 4);
      return p + 4;
    }
    case 3: return PutVarintValue(4, std::get<bool>(value_) ? 1 : 0, p);
    // int32 is sign-extended to 64 bits on the wire, as protobuf does.
    case 4: return PutVarintValue(5, static_cast<uint64_t>(int64_t{std::get<int32_t>(value_)}), p);
    case 5: return PutVarintValue(6, std::get<uint32_t>(value_), p);
    case 6: return PutVarintValue(7, static_cast<uint64_t>(std::get<int64_t>(value_)), p);
    case 7: return PutVarintValue(8, std::get<uint64_t>(value_), p);
    case 8: return PutTextValue(1, std::get<Text>(value_).value, p);
    case 9: return PutVarintValue(10, std::get<EnumKey>(value_).key, p);
    case 10: return PutTextValue(9, std::get<Bits>(value_).value, p);
    default: return PutTextValue(12, std::get<Blob>(value_).value, p);
  }
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
  absl::StatusOr<const sift::ingestion_configs::v2::FlowConfig*> checked = Check(flow, values);
  if (!checked.ok()) return checked.status();
  const sift::ingestion_configs::v2::FlowConfig* config = *checked;
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
  return absl::OkStatus();
}

absl::StatusOr<const sift::ingestion_configs::v2::FlowConfig*> RequestBuilder::Check(
    absl::string_view flow, absl::Span<const ChannelValue> values) const {
  const auto* config = Find(flow);
  if (config == nullptr) return absl::InvalidArgumentError(UnknownFlowMessage(flow));
  if (static_cast<int>(values.size()) != config->channels_size()) {
    return absl::InvalidArgumentError(absl::StrCat("flow '", config->name(), "' has ",
                                                   config->channels_size(), " channels but ",
                                                   values.size(), " values were given"));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const ChannelDataType type = values[i].type();
    const auto& channel = config->channels(static_cast<int>(i));
    if (type != sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED &&
        type != channel.data_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flow '", config->name(), "', channel ", i, " '", channel.name(), "' is ",
          ChannelTypeName(channel.data_type()), " but the value is ", ChannelTypeName(type)));
    }
  }
  return config;
}

absl::Status RequestBuilder::Encode(absl::string_view flow, absl::Time timestamp,
                                    absl::Span<const ChannelValue> values,
                                    std::string* out) const {
  absl::StatusOr<const sift::ingestion_configs::v2::FlowConfig*> checked = Check(flow, values);
  if (!checked.ok()) return checked.status();
  const sift::ingestion_configs::v2::FlowConfig* config = *checked;
  size_t room = 2 * (1 + 5) + ingestion_config_id_.size() + config->name().size() +
                2 + 2 * (1 + kMaxVarintBytes) + 1 + 5 + run_id_.size();
  for (const ChannelValue& value : values) room += value.MaxEncodedSize();
  out->resize(room);  // Within the recycled capacity once warm: no allocation.
  char* const begin = out->data();
  char* p = begin;
  // Fields in number order, defaults left out, as protobuf's serializer writes them.
  if (!ingestion_config_id_.empty()) p = PutString(1, ingestion_config_id_, p);
  if (!config->name().empty()) p = PutString(2, config->name(), p);
  const int64_t nanos = absl::ToUnixNanos(timestamp);
  const int64_t seconds = nanos >= 0 ? nanos / 1000000000 : (nanos - 999999999) / 1000000000;
  const int32_t subsecond = static_cast<int32_t>(nanos - seconds * 1000000000);
  size_t timestamp_size = 0;
  if (seconds != 0) timestamp_size += 1 + VarintSize(static_cast<uint64_t>(seconds));
  if (subsecond != 0) timestamp_size += 1 + VarintSize(static_cast<uint64_t>(subsecond));
  p = PutTag(3, kLengthDelimited, p);
  p = PutVarint(timestamp_size, p);
  if (seconds != 0) {
    p = PutTag(1, kVarint, p);
    p = PutVarint(static_cast<uint64_t>(seconds), p);
  }
  if (subsecond != 0) {
    p = PutTag(2, kVarint, p);
    p = PutVarint(static_cast<uint64_t>(subsecond), p);
  }
  for (const ChannelValue& value : values) p = value.EncodeTo(p);
  if (!run_id_.empty()) p = PutString(5, run_id_, p);
  out->resize(static_cast<size_t>(p - begin));
  return absl::OkStatus();
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
    return absl::InvalidArgumentError(UnknownFlowMessage(request->flow()));
  }
  if (!request->has_timestamp()) return absl::InvalidArgumentError("the request has no timestamp");
  return CheckValues(*config, request->channel_values());
}

}  // namespace sift_stream::engine
