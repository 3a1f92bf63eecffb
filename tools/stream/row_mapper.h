// tools/stream/row_mapper.h — which CSV column feeds which channel of which flow, and one data
// row turned into the messages Send() takes.
//
// The header row decides the mapping, once: a column named like a channel of the file's flow
// (--flow, or the config's only flow) feeds that channel; "flow.channel" names a channel of
// any flow, so one file can feed several flows. The time column (--time_column) stamps every
// message of its row. A flow channel without a column, and an empty cell, are sent as
// ChannelValue::Empty() — "no new value", which Sift's ingest API supports — and a flow whose
// cells are all empty in a row sends nothing for that row. Unknown or repeated columns are
// errors at the header: a typo must not silently drop a whole channel.

#ifndef SIFT_STREAM_TOOLS_STREAM_ROW_MAPPER_H_
#define SIFT_STREAM_TOOLS_STREAM_ROW_MAPPER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/request_builder.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "tools/stream/cell_parsers.h"

namespace sift_stream::tools {

struct MappingOptions {
  std::string time_column = "time";
  std::string flow;  // Unqualified columns belong to it; empty: the config's only flow.
  TimeUnit time_unit = TimeUnit::kUnset;
};

struct RowMessage {
  const std::string* flow = nullptr;  // Owned by the RowMapper.
  std::vector<engine::ChannelValue> values;
};

class RowMapper {
 public:
  // InvalidArgument naming the column (and what the flows offer) when the header does not fit.
  static absl::StatusOr<RowMapper> Create(
      const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows,
      const std::vector<std::string>& header, const MappingOptions& options);

  // One message per flow that has a value in this row (maybe none). InvalidArgument naming the
  // column and the cell; the caller adds the line.
  absl::Status Map(const std::vector<std::string>& cells, absl::Time* time,
                   std::vector<RowMessage>* messages) const;

  // "flow 'imu': 3 of 4 channels from columns" lines, for the start of a run.
  std::vector<std::string> Describe() const;

 private:
  struct Target {
    int flow = -1;
    int channel = -1;
  };
  RowMapper() = default;
  absl::StatusOr<Target> Resolve(absl::string_view column, int default_flow) const;

  std::vector<sift::ingestion_configs::v2::FlowConfig> flows_;
  std::vector<std::string> header_;
  size_t time_index_ = 0;
  TimeUnit time_unit_ = TimeUnit::kUnset;
  std::vector<Target> targets_;  // Per column; flow -1 for the time column.
  std::vector<int> mapped_per_flow_;
};

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_STREAM_ROW_MAPPER_H_
