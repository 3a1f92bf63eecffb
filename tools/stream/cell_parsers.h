// tools/stream/cell_parsers.h — one CSV cell to a timestamp or to a channel's typed value.
//
// The channel's declared type decides how a cell is read, never the cell's look: "1" is a
// double 1.0 in a double channel, key 1 in an enum channel, true in a bool channel. Anything
// that does not fit exactly (overflow, trailing text, an unknown enum name) is an error that
// says what the channel expected, because Sift would otherwise drop the message silently into
// its error queue.
//
// Times: RFC 3339 text ("2024-05-01T12:00:00.25Z", any offset) is always accepted; a number is
// an epoch time in --time_unit (s, ms, us, ns; a fraction is allowed and kept to the
// nanosecond). A number without a unit is refused rather than guessed: 1714564800000 read as
// seconds would be a date in the year 56000.

#ifndef SIFT_STREAM_TOOLS_STREAM_CELL_PARSERS_H_
#define SIFT_STREAM_TOOLS_STREAM_CELL_PARSERS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/request_builder.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::tools {

enum class TimeUnit { kUnset, kSeconds, kMillis, kMicros, kNanos };

// "" (unset), "s", "ms", "us", "ns".
absl::StatusOr<TimeUnit> ParseTimeUnit(absl::string_view flag);

absl::StatusOr<absl::Time> ParseTimeCell(absl::string_view cell, TimeUnit unit);

// A non-empty cell as a value of `channel`'s type. Bit fields: an unsigned integer (decimal,
// 0x hex or 0b binary) sent as little-endian bytes, as many as the channel's elements span.
// Bytes: base64. Strings: the cell as it is (surrounding spaces kept).
absl::StatusOr<engine::ChannelValue> ParseValueCell(
    absl::string_view cell, const sift::ingestion_configs::v2::ChannelConfig& channel);

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_STREAM_CELL_PARSERS_H_
