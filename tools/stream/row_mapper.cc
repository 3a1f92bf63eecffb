#include "tools/stream/row_mapper.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sift_stream::tools {
namespace {

using sift::ingestion_configs::v2::FlowConfig;

int ChannelIndex(const FlowConfig& flow, absl::string_view name) {
  for (int i = 0; i < flow.channels_size(); ++i) {
    if (flow.channels(i).name() == name) return i;
  }
  return -1;
}

absl::StatusOr<int> DefaultFlow(const std::vector<FlowConfig>& flows, absl::string_view wanted) {
  std::vector<std::string> names;
  for (size_t i = 0; i < flows.size(); ++i) {
    if (flows[i].name() == wanted) return static_cast<int>(i);
    names.push_back(flows[i].name());
  }
  if (wanted.empty()) return flows.size() == 1 ? 0 : -1;
  return absl::InvalidArgumentError(absl::StrCat("--flow=", wanted, " is not a flow of the config (",
                                                 absl::StrJoin(names, ", "), ")"));
}

}  // namespace

// A channel of the default flow by its plain name first (channel names may hold dots), then
// "flow.channel" for any flow, the longest matching flow name winning.
absl::StatusOr<RowMapper::Target> RowMapper::Resolve(absl::string_view column,
                                                     int default_flow) const {
  if (default_flow >= 0) {
    if (int c = ChannelIndex(flows_[default_flow], column); c >= 0) return Target{default_flow, c};
  }
  Target best;
  size_t best_length = 0;
  for (size_t f = 0; f < flows_.size(); ++f) {
    const std::string prefix = flows_[f].name() + ".";
    if (prefix.size() <= best_length || !absl::StartsWith(column, prefix)) continue;
    if (int c = ChannelIndex(flows_[f], column.substr(prefix.size())); c >= 0) {
      best = Target{static_cast<int>(f), c};
      best_length = prefix.size();
    }
  }
  if (best.flow >= 0) return best;
  std::string hint =
      default_flow >= 0
          ? absl::StrCat("a channel of flow '", flows_[default_flow].name(),
                         "' or 'flow.channel'")
          : "'flow.channel' (the config has several flows: name one with --flow to use plain "
            "channel names)";
  return absl::InvalidArgumentError(
      absl::StrCat("column '", column, "' is not ", hint, "; the time column is --time_column"));
}

absl::StatusOr<RowMapper> RowMapper::Create(const std::vector<FlowConfig>& flows,
                                            const std::vector<std::string>& header,
                                            const MappingOptions& options) {
  RowMapper mapper;
  mapper.flows_ = flows;
  mapper.header_ = header;
  mapper.time_unit_ = options.time_unit;
  mapper.mapped_per_flow_.assign(flows.size(), 0);
  absl::StatusOr<int> default_flow = DefaultFlow(flows, options.flow);
  if (!default_flow.ok()) return default_flow.status();
  // The time column first: without it no column below can be judged (is "t" a typo?).
  auto time = std::find(header.begin(), header.end(), options.time_column);
  if (time == header.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the header has no time column '", options.time_column, "' (see --time_column)"));
  }
  mapper.time_index_ = time - header.begin();
  absl::flat_hash_set<std::pair<int, int>> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    if (i == mapper.time_index_) {
      mapper.targets_.push_back(Target{});
      continue;
    }
    absl::StatusOr<Target> target = mapper.Resolve(header[i], *default_flow);
    if (!target.ok()) return target.status();
    if (!seen.insert({target->flow, target->channel}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("column '", header[i], "' names a channel an earlier column already feeds"));
    }
    mapper.targets_.push_back(*target);
    ++mapper.mapped_per_flow_[target->flow];
  }
  if (seen.empty()) return absl::InvalidArgumentError("the header names no channel columns");
  return mapper;
}

absl::Status RowMapper::Map(const std::vector<std::string>& cells, absl::Time* time,
                            std::vector<RowMessage>* messages) const {
  messages->clear();
  if (cells.size() != header_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the row has ", cells.size(), " cells, the header ", header_.size()));
  }
  absl::StatusOr<absl::Time> t = ParseTimeCell(cells[time_index_], time_unit_);
  if (!t.ok()) return t.status();
  *time = *t;
  std::vector<int> message_of_flow(flows_.size(), -1);
  for (size_t i = 0; i < cells.size(); ++i) {
    const Target& target = targets_[i];
    if (target.flow < 0 || cells[i].empty()) continue;
    const FlowConfig& flow = flows_[target.flow];
    absl::StatusOr<engine::ChannelValue> value = ParseValueCell(cells[i], flow.channels(target.channel));
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("column '", header_[i], "': ", value.status().message()));
    }
    int& index = message_of_flow[target.flow];
    if (index < 0) {
      index = static_cast<int>(messages->size());
      messages->push_back(RowMessage{&flow.name(), std::vector<engine::ChannelValue>(
                                                       flow.channels_size(),
                                                       engine::ChannelValue::Empty())});
    }
    (*messages)[index].values[target.channel] = std::move(*value);
  }
  return absl::OkStatus();
}

std::vector<std::string> RowMapper::Describe() const {
  std::vector<std::string> lines;
  for (size_t f = 0; f < flows_.size(); ++f) {
    if (mapped_per_flow_[f] == 0) continue;
    lines.push_back(absl::StrCat("flow '", flows_[f].name(), "': ", mapped_per_flow_[f], " of ",
                                 flows_[f].channels_size(), " channels from columns"));
  }
  lines.push_back(absl::StrCat("time: column '", header_[time_index_], "'"));
  return lines;
}

}  // namespace sift_stream::tools
