#include "tools/stream/cell_parsers.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace sift_stream::tools {
namespace {

using engine::ChannelValue;
using sift::ingestion_configs::v2::ChannelConfig;
namespace types = sift::common::type::v1;

absl::Duration UnitDuration(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kSeconds: return absl::Seconds(1);
    case TimeUnit::kMillis: return absl::Milliseconds(1);
    case TimeUnit::kMicros: return absl::Microseconds(1);
    default: return absl::Nanoseconds(1);
  }
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

// Sift timestamps are int64 nanoseconds; anything outside would wrap in the request.
bool FitsNanos(absl::Time t) {
  return t >= absl::FromUnixNanos(std::numeric_limits<int64_t>::min()) &&
         t <= absl::FromUnixNanos(std::numeric_limits<int64_t>::max());
}

// "-12.5" in `unit`, exactly: the whole part as an integer count, the fraction (up to nine
// digits; more are allowed and ignored) as billionths of one unit.
absl::StatusOr<absl::Time> ParseEpoch(absl::string_view cell, TimeUnit unit) {
  const bool negative = absl::ConsumePrefix(&cell, "-");
  absl::string_view whole = cell, fraction;
  if (size_t dot = cell.find('.'); dot != absl::string_view::npos) {
    whole = cell.substr(0, dot);
    fraction = cell.substr(dot + 1);
  }
  int64_t count = 0;
  if (!AllDigits(whole) || (!fraction.empty() && !AllDigits(fraction)) ||
      !absl::SimpleAtoi(whole, &count)) {
    return absl::InvalidArgumentError("not a number in range");
  }
  std::string billionths(fraction.substr(0, 9));
  billionths.resize(9, '0');
  int64_t parts = 0;
  if (!absl::SimpleAtoi(billionths, &parts)) parts = 0;  // Nine digits always fit.
  absl::Duration offset = UnitDuration(unit) * count + UnitDuration(unit) * parts / 1000000000;
  const absl::Time t = absl::UnixEpoch() + (negative ? -offset : offset);
  if (!FitsNanos(t)) return absl::InvalidArgumentError("out of range (years 1678..2262)");
  return t;
}

template <typename T>
absl::StatusOr<T> ParseInteger(absl::string_view cell, absl::string_view type) {
  T value;
  if (!absl::SimpleAtoi(cell, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not an ", type));
  }
  return value;
}

absl::StatusOr<ChannelValue> ParseBool(absl::string_view cell) {
  const std::string lower = absl::AsciiStrToLower(cell);
  if (lower == "true" || lower == "1") return ChannelValue::Bool(true);
  if (lower == "false" || lower == "0") return ChannelValue::Bool(false);
  return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not a bool (true/false/1/0)"));
}

absl::StatusOr<ChannelValue> ParseEnum(absl::string_view cell, const ChannelConfig& channel) {
  for (const auto& value : channel.enum_types()) {
    if (value.name() == cell) return ChannelValue::Enum(value.key());
  }
  uint32_t key = 0;
  if (absl::SimpleAtoi(cell, &key)) {
    bool declared = channel.enum_types().empty();
    for (const auto& value : channel.enum_types()) declared = declared || value.key() == key;
    if (declared) return ChannelValue::Enum(key);
  }
  std::vector<std::string> names;
  for (const auto& value : channel.enum_types()) {
    names.push_back(absl::StrCat(value.name(), "=", value.key()));
  }
  return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not one of the enum's values (",
                                                 absl::StrJoin(names, ", "), ")"));
}

// Bytes a bit field's elements span (index and bit_count in bits), at least one.
size_t BitFieldBytes(const ChannelConfig& channel) {
  int64_t bits = 8;
  for (const auto& element : channel.bit_field_elements()) {
    bits = std::max<int64_t>(bits, int64_t{element.index()} + element.bit_count());
  }
  return static_cast<size_t>((bits + 7) / 8);
}

absl::StatusOr<uint64_t> ParseUnsigned(absl::string_view cell) {
  uint64_t value = 0;
  if (absl::ConsumePrefix(&cell, "0b") || absl::ConsumePrefix(&cell, "0B")) {
    if (cell.empty() || cell.size() > 64 || cell.find_first_not_of("01") != cell.npos) {
      return absl::InvalidArgumentError("bad binary number");
    }
    for (char c : cell) value = value << 1 | (c == '1');
    return value;
  }
  if (absl::StartsWithIgnoreCase(cell, "0x") ? absl::SimpleHexAtoi(cell, &value)
                                              : absl::SimpleAtoi(cell, &value)) {
    return value;
  }
  return absl::InvalidArgumentError("not an unsigned number");
}

absl::StatusOr<ChannelValue> ParseBitField(absl::string_view cell, const ChannelConfig& channel) {
  absl::StatusOr<uint64_t> value = ParseUnsigned(cell);
  const size_t bytes = BitFieldBytes(channel);
  if (!value.ok() || (bytes < 8 && *value >> (8 * bytes) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", cell, "' is not a bit field of ", bytes, " byte(s) (an unsigned number: 13, 0x0d, "
        "0b1101)"));
  }
  std::string little_endian(bytes, '\0');
  for (size_t i = 0; i < bytes && i < 8; ++i) little_endian[i] = char(*value >> (8 * i) & 0xff);
  return ChannelValue::BitField(std::move(little_endian));
}

absl::StatusOr<ChannelValue> ParseTyped(absl::string_view cell, const ChannelConfig& channel) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(cell);
  switch (channel.data_type()) {
    case types::CHANNEL_DATA_TYPE_DOUBLE: {
      double v;
      if (absl::SimpleAtod(trimmed, &v)) return ChannelValue::Double(v);
      return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not a double"));
    }
    case types::CHANNEL_DATA_TYPE_FLOAT: {
      float v;
      if (absl::SimpleAtof(trimmed, &v)) return ChannelValue::Float(v);
      return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not a float"));
    }
    case types::CHANNEL_DATA_TYPE_INT_32: {
      auto v = ParseInteger<int32_t>(trimmed, "int32");
      if (!v.ok()) return v.status();
      return ChannelValue::Int32(*v);
    }
    case types::CHANNEL_DATA_TYPE_UINT_32: {
      auto v = ParseInteger<uint32_t>(trimmed, "uint32");
      if (!v.ok()) return v.status();
      return ChannelValue::Uint32(*v);
    }
    case types::CHANNEL_DATA_TYPE_INT_64: {
      auto v = ParseInteger<int64_t>(trimmed, "int64");
      if (!v.ok()) return v.status();
      return ChannelValue::Int64(*v);
    }
    case types::CHANNEL_DATA_TYPE_UINT_64: {
      auto v = ParseInteger<uint64_t>(trimmed, "uint64");
      if (!v.ok()) return v.status();
      return ChannelValue::Uint64(*v);
    }
    case types::CHANNEL_DATA_TYPE_BOOL: return ParseBool(trimmed);
    case types::CHANNEL_DATA_TYPE_STRING: return ChannelValue::String(std::string(cell));
    case types::CHANNEL_DATA_TYPE_ENUM: return ParseEnum(trimmed, channel);
    case types::CHANNEL_DATA_TYPE_BIT_FIELD: return ParseBitField(trimmed, channel);
    case types::CHANNEL_DATA_TYPE_BYTES: {
      std::string bytes;
      if (absl::Base64Unescape(trimmed, &bytes)) return ChannelValue::Bytes(std::move(bytes));
      return absl::InvalidArgumentError(absl::StrCat("'", cell, "' is not base64"));
    }
    default:
      return absl::InvalidArgumentError("the channel has no data type in the config");
  }
}

}  // namespace

absl::StatusOr<TimeUnit> ParseTimeUnit(absl::string_view flag) {
  if (flag.empty()) return TimeUnit::kUnset;
  if (flag == "s") return TimeUnit::kSeconds;
  if (flag == "ms") return TimeUnit::kMillis;
  if (flag == "us") return TimeUnit::kMicros;
  if (flag == "ns") return TimeUnit::kNanos;
  return absl::InvalidArgumentError(absl::StrCat("--time_unit=", flag, ": use s, ms, us or ns"));
}

absl::StatusOr<absl::Time> ParseTimeCell(absl::string_view cell, TimeUnit unit) {
  cell = absl::StripAsciiWhitespace(cell);
  if (cell.empty()) return absl::InvalidArgumentError("the time cell is empty");
  const bool numeric = cell.find_first_not_of("-.0123456789") == absl::string_view::npos;
  if (numeric) {
    if (unit == TimeUnit::kUnset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "time '", cell, "' is a number: say its unit with --time_unit=s|ms|us|ns"));
    }
    absl::StatusOr<absl::Time> t = ParseEpoch(cell, unit);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("time '", cell, "': ",
                                                                t.status().message()));
    return t;
  }
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, cell, &t, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time '", cell, "' is neither RFC 3339 (2024-05-01T12:00:00.5Z) nor a number: ", error));
  }
  if (!FitsNanos(t)) {
    return absl::InvalidArgumentError(absl::StrCat("time '", cell, "' is out of range"));
  }
  return t;
}

absl::StatusOr<ChannelValue> ParseValueCell(absl::string_view cell, const ChannelConfig& channel) {
  absl::StatusOr<ChannelValue> value = ParseTyped(cell, channel);
  if (value.ok()) return value;
  return absl::InvalidArgumentError(absl::StrCat("channel '", channel.name(), "' (",
                                                 engine::ChannelTypeName(channel.data_type()),
                                                 "): ", value.status().message()));
}

}  // namespace sift_stream::tools
