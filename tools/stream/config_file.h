// tools/stream/config_file.h — reads and checks `stream --config=F` (a StreamConfig,
// stream_config.proto).
//
// JSON or protobuf text format, told apart by the first non-blank character ('{' is JSON), and
// parsed by protobuf itself (util::JsonStringToMessage, TextFormat) so that field names, enum
// names (CHANNEL_DATA_TYPE_DOUBLE) and errors are protobuf's. Unknown JSON fields are errors:
// a misspelt "chanels" must not become a flow without channels.

#ifndef SIFT_STREAM_TOOLS_STREAM_CONFIG_FILE_H_
#define SIFT_STREAM_TOOLS_STREAM_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/stream/stream_config.pb.h"

namespace sift_stream::tools {

// `text` is the file's contents; `name` is used in messages only.
absl::StatusOr<StreamConfig> ParseStreamConfig(absl::string_view text, absl::string_view name);

absl::StatusOr<StreamConfig> LoadStreamConfig(const std::string& path);

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_STREAM_CONFIG_FILE_H_
