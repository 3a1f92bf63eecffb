#include "engine/flow_writer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/request_builder.h"
#include "engine/sift_stream.h"
#include "engine/wire_format.h"

namespace sift_stream {
namespace {

using sift::common::type::v1::ChannelDataType;

using engine::wire::k32Bit;
using engine::wire::k64Bit;
using engine::wire::kLengthDelimited;
using engine::wire::kMaxVarintBytes;
using engine::wire::kVarint;
using engine::wire::VarintSize;
using engine::wire::PutVarint;

// The most bytes one channel value's frame takes beyond its text: the value tag, a length of
// up to 5 bytes, the oneof tag, a 10-byte varint or a 5-byte length.
constexpr size_t kMaxSlotFrame = 1 + 5 + 1 + kMaxVarintBytes;

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void PutTag(uint32_t field, uint32_t wire_type, std::string* out) {
  PutVarint((field << 3) | wire_type, out);
}

void PutBytesField(uint32_t field, absl::string_view bytes, std::string* out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

// The Kind a channel of `type` takes (its field number in the value's oneof).
int KindOf(ChannelDataType type) {
  switch (type) {
    case sift::common::type::v1::CHANNEL_DATA_TYPE_STRING: return 1;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE: return 2;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT: return 3;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL: return 4;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32: return 5;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32: return 6;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64: return 7;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64: return 8;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD: return 9;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM: return 10;
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES: return 12;
    default: return 11;  // Unspecified: only "empty" fits.
  }
}

const char* KindName(int kind) {
  static const char* const kNames[] = {"?",      "string", "double", "float",     "bool",
                                       "int32",  "uint32", "int64",  "uint64",    "bit field",
                                       "enum",   "empty",  "bytes"};
  return kind >= 0 && kind <= 12 ? kNames[kind] : "?";
}

}  // namespace

FlowWriter::FlowWriter(SiftStream* stream, const sift::ingestion_configs::v2::FlowConfig& flow,
                       absl::string_view ingestion_config_id, absl::string_view run_id,
                       uint64_t generation)
    : stream_(stream), flow_name_(flow.name()), generation_(generation) {
  PutBytesField(1, ingestion_config_id, &prefix_);
  PutBytesField(2, flow.name(), &prefix_);
  if (!run_id.empty()) PutBytesField(5, run_id, &suffix_);
  slots_.resize(flow.channels_size());
  for (int i = 0; i < flow.channels_size(); ++i) {
    channel_names_.push_back(flow.channels(i).name());
    slots_[i].expected = static_cast<Kind>(KindOf(flow.channels(i).data_type()));
    slots_[i].u64 = 0;
  }
}

absl::StatusOr<size_t> FlowWriter::ChannelIndex(absl::string_view name) const {
  for (size_t i = 0; i < channel_names_.size(); ++i) {
    if (channel_names_[i] == name) return i;
  }
  return absl::NotFoundError(
      absl::StrCat("flow '", flow_name_, "' has no channel named '", name, "'"));
}

bool FlowWriter::Check(size_t channel, Kind kind) {
  if (channel >= slots_.size()) {
    Fail(absl::StrCat("flow '", flow_name_, "' has ", slots_.size(), " channels; there is no "
                      "channel ", channel));
    return false;
  }
  Slot& slot = slots_[channel];
  if (kind != slot.expected && kind != Kind::kEmpty) {
    Fail(absl::StrCat("flow '", flow_name_, "', channel ", channel, " '",
                      channel_names_[channel], "' is ", KindName(static_cast<int>(slot.expected)),
                      " but the value is ", KindName(static_cast<int>(kind))));
    return false;
  }
  slot.set = kind;
  return true;
}

void FlowWriter::Fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
}

FlowWriter& FlowWriter::SetDouble(size_t channel, double value) {
  if (Check(channel, Kind::kDouble)) slots_[channel].f64 = value;
  return *this;
}
FlowWriter& FlowWriter::SetFloat(size_t channel, float value) {
  if (Check(channel, Kind::kFloat)) slots_[channel].f32 = value;
  return *this;
}
FlowWriter& FlowWriter::SetBool(size_t channel, bool value) {
  if (Check(channel, Kind::kBool)) slots_[channel].u64 = value ? 1 : 0;
  return *this;
}
FlowWriter& FlowWriter::SetInt32(size_t channel, int32_t value) {
  // Negative int32 values are sign-extended to 10 bytes on the wire, as protobuf does.
  if (Check(channel, Kind::kInt32)) slots_[channel].u64 = static_cast<uint64_t>(int64_t{value});
  return *this;
}
FlowWriter& FlowWriter::SetUint32(size_t channel, uint32_t value) {
  if (Check(channel, Kind::kUint32)) slots_[channel].u64 = value;
  return *this;
}
FlowWriter& FlowWriter::SetInt64(size_t channel, int64_t value) {
  if (Check(channel, Kind::kInt64)) slots_[channel].u64 = static_cast<uint64_t>(value);
  return *this;
}
FlowWriter& FlowWriter::SetUint64(size_t channel, uint64_t value) {
  if (Check(channel, Kind::kUint64)) slots_[channel].u64 = value;
  return *this;
}
FlowWriter& FlowWriter::SetEnum(size_t channel, uint32_t key) {
  if (Check(channel, Kind::kEnum)) slots_[channel].u64 = key;
  return *this;
}
FlowWriter& FlowWriter::SetString(size_t channel, absl::string_view value) {
  if (Check(channel, Kind::kString)) slots_[channel].text.assign(value.data(), value.size());
  return *this;
}
FlowWriter& FlowWriter::SetBitField(size_t channel, absl::string_view bits) {
  if (Check(channel, Kind::kBitField)) slots_[channel].text.assign(bits.data(), bits.size());
  return *this;
}
FlowWriter& FlowWriter::SetBytes(size_t channel, absl::string_view bytes) {
  if (Check(channel, Kind::kBytes)) slots_[channel].text.assign(bytes.data(), bytes.size());
  return *this;
}
FlowWriter& FlowWriter::SetEmpty(size_t channel) {
  Check(channel, Kind::kEmpty);
  return *this;
}

size_t FlowWriter::IndexOrFail(absl::string_view name) {
  absl::StatusOr<size_t> index = ChannelIndex(name);
  if (index.ok()) return *index;
  Fail(std::string(index.status().message()));
  return slots_.size();  // Out of range: the setter records nothing more.
}

FlowWriter& FlowWriter::SetDouble(absl::string_view channel, double value) {
  const size_t i = IndexOrFail(channel);
  return i < slots_.size() ? SetDouble(i, value) : *this;
}
FlowWriter& FlowWriter::SetInt64(absl::string_view channel, int64_t value) {
  const size_t i = IndexOrFail(channel);
  return i < slots_.size() ? SetInt64(i, value) : *this;
}
FlowWriter& FlowWriter::SetBool(absl::string_view channel, bool value) {
  const size_t i = IndexOrFail(channel);
  return i < slots_.size() ? SetBool(i, value) : *this;
}
FlowWriter& FlowWriter::SetString(absl::string_view channel, absl::string_view value) {
  const size_t i = IndexOrFail(channel);
  return i < slots_.size() ? SetString(i, value) : *this;
}

void FlowWriter::Clear() {
  for (Slot& slot : slots_) slot.set = Kind::kEmpty;
  error_.clear();
}

// Field order and encodings as protobuf's serializer writes them, so the bytes are the same.
// Writes through a raw pointer into room made up front: per-byte push_back (a capacity check
// each) was most of the cost for wide messages (docs/performance.md, finding 6).
void FlowWriter::EncodeTo(absl::Time timestamp, std::string* out) const {
  size_t room = prefix_.size() + suffix_.size() + 2 + 2 * (1 + kMaxVarintBytes);
  for (const Slot& slot : slots_) room += kMaxSlotFrame + slot.text.size();
  out->resize(room);  // Within the recycled capacity once warm: no allocation.
  char* const begin = out->data();
  char* p = begin;
  std::memcpy(p, prefix_.data(), prefix_.size());
  p += prefix_.size();
  const int64_t nanos = absl::ToUnixNanos(timestamp);
  const int64_t seconds = nanos >= 0 ? nanos / 1000000000 : (nanos - 999999999) / 1000000000;
  const int32_t subsecond = static_cast<int32_t>(nanos - seconds * 1000000000);
  size_t timestamp_size = 0;
  if (seconds != 0) timestamp_size += 1 + VarintSize(static_cast<uint64_t>(seconds));
  if (subsecond != 0) timestamp_size += 1 + VarintSize(static_cast<uint64_t>(subsecond));
  *p++ = static_cast<char>((3 << 3) | kLengthDelimited);
  p = PutVarint(timestamp_size, p);
  if (seconds != 0) {
    *p++ = static_cast<char>((1 << 3) | kVarint);
    p = PutVarint(static_cast<uint64_t>(seconds), p);
  }
  if (subsecond != 0) {
    *p++ = static_cast<char>((2 << 3) | kVarint);
    p = PutVarint(static_cast<uint64_t>(subsecond), p);
  }
  constexpr char kValueTag = static_cast<char>((4 << 3) | kLengthDelimited);
  for (const Slot& slot : slots_) {
    const uint32_t field = static_cast<uint32_t>(slot.set);  // < 16: a one-byte tag.
    *p++ = kValueTag;
    switch (slot.set) {
      case Kind::kDouble:
        *p++ = 9;
        *p++ = static_cast<char>((field << 3) | k64Bit);
        std::memcpy(p, &slot.f64, 8);  // Little-endian, as the wire format (x86-64, arm64).
        p += 8;
        break;
      case Kind::kFloat:
        *p++ = 5;
        *p++ = static_cast<char>((field << 3) | k32Bit);
        std::memcpy(p, &slot.f32, 4);
        p += 4;
        break;
      case Kind::kString:
      case Kind::kBitField:
      case Kind::kBytes:
        p = PutVarint(1 + VarintSize(slot.text.size()) + slot.text.size(), p);
        *p++ = static_cast<char>((field << 3) | kLengthDelimited);
        p = PutVarint(slot.text.size(), p);
        std::memcpy(p, slot.text.data(), slot.text.size());
        p += slot.text.size();
        break;
      case Kind::kEmpty:
        *p++ = 2;
        *p++ = static_cast<char>((field << 3) | kLengthDelimited);
        *p++ = 0;
        break;
      default:  // Every varint kind: bool, the integers, enum.
        *p++ = static_cast<char>(1 + VarintSize(slot.u64));
        *p++ = static_cast<char>((field << 3) | kVarint);
        p = PutVarint(slot.u64, p);
        break;
    }
  }
  std::memcpy(p, suffix_.data(), suffix_.size());
  p += suffix_.size();
  out->resize(static_cast<size_t>(p - begin));
}

void FlowWriter::RefreshRunId() const {
  if (stream_ == nullptr || stream_->state_generation() == generation_) return;
  const std::string run_id = stream_->CurrentRunId(&generation_);
  suffix_.clear();
  if (!run_id.empty()) PutBytesField(5, run_id, &suffix_);
}

absl::StatusOr<std::string> FlowWriter::Encode(absl::Time timestamp) const {
  if (!error_.empty()) return absl::InvalidArgumentError(error_);
  RefreshRunId();
  std::string bytes;
  EncodeTo(timestamp, &bytes);
  return bytes;
}

absl::Status FlowWriter::Send(absl::Time timestamp) {
  if (!error_.empty()) {
    absl::Status mistake = absl::InvalidArgumentError(error_);
    Clear();
    return mistake;
  }
  if (absl::Status full = stream_->RefuseIfFull(); !full.ok()) {
    Clear();  // As for any refusal by Send: the row is not kept (TrySend keeps it).
    return full;
  }
  RefreshRunId();
  EncodeTo(timestamp, &buffer_);
  Clear();
  return stream_->EnqueueSerialized(buffer_);
}

absl::Status FlowWriter::TrySend(absl::Time timestamp) {
  if (!error_.empty()) return Send(timestamp);  // Cleared and returned, as by Send().
  RefreshRunId();
  EncodeTo(timestamp, &buffer_);
  absl::Status sent = stream_->EnqueueSerialized(buffer_, /*wait_for_lock=*/false);
  // Only what can never be sent is cleared; a refusal leaves the row for the next try.
  if (sent.ok() || absl::IsInvalidArgument(sent)) Clear();
  return sent;
}

}  // namespace sift_stream
