#include "testing/registry.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "testing/list_query.h"

namespace sift_stream::testing {
namespace {

using ::sift::common::type::v1::ChannelDataType;
using ::sift::ingestion_configs::v2::ChannelConfig;
using ::sift::ingestion_configs::v2::FlowConfig;

// --- Validation and description of flows ------------------------------------------------------

absl::Status RequireId(absl::string_view field, absl::string_view value) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("fake Sift: ", field, " is required"));
}

absl::Status ValidateFlow(const FlowConfig& flow) {
  if (flow.name().empty()) {
    return absl::InvalidArgumentError("fake Sift: a flow has no name; every flow needs one");
  }
  for (int i = 0; i < flow.channels_size(); ++i) {
    const ChannelConfig& channel = flow.channels(i);
    if (channel.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fake Sift: channel #", i, " of flow '", flow.name(), "' has no name"));
    }
    if (channel.data_type() == ChannelDataType::CHANNEL_DATA_TYPE_UNSPECIFIED ||
        !sift::common::type::v1::ChannelDataType_IsValid(channel.data_type())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fake Sift: channel '", channel.name(), "' of flow '", flow.name(),
          "' has no valid data_type (got ", static_cast<int>(channel.data_type()), ")"));
    }
  }
  return absl::OkStatus();
}

// "[ax DOUBLE, mode ENUM]": enough for a user to see which flow definition is which.
std::string DescribeChannels(const FlowConfig& flow) {
  return absl::StrCat(
      "[",
      absl::StrJoin(flow.channels(), ", ",
                    [](std::string* out, const ChannelConfig& channel) {
                      const std::string& type = ChannelDataType_Name(channel.data_type());
                      absl::StrAppend(out, channel.name(), " ",
                                      absl::StripPrefix(type, "CHANNEL_DATA_TYPE_"));
                    }),
      "]");
}

absl::Status FlowConflict(const FlowConfig& existing, const FlowConfig& requested,
                          absl::string_view where) {
  std::string existing_channels = DescribeChannels(existing);
  std::string requested_channels = DescribeChannels(requested);
  const char* detail = existing_channels == requested_channels
                           ? " (they differ in units, descriptions, enum types or bit fields)"
                           : "";
  return absl::AlreadyExistsError(absl::StrCat(
      "fake Sift: flow '", requested.name(), "' ", where, " with different channels: existing ",
      existing_channels, ", requested ", requested_channels, detail,
      ". Flows cannot change in Sift: give the changed flow a new name (or a new client_key)."));
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t seconds = absl::ToUnixSeconds(time);
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(
      static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return timestamp;
}

}  // namespace

// --- Ingestion configs and flows ---------------------------------------------------------------

absl::StatusOr<std::vector<const FlowConfig*>> Registry::FlowsToAdd(
    const ConfigEntry* entry, absl::string_view config_id,
    const google::protobuf::RepeatedPtrField<FlowConfig>& flows) {
  std::vector<const FlowConfig*> to_add;
  absl::flat_hash_map<absl::string_view, const FlowConfig*> in_request;
  for (const FlowConfig& flow : flows) {
    if (absl::Status valid = ValidateFlow(flow); !valid.ok()) return valid;
    const FlowConfig* existing = nullptr;
    std::string where;
    if (entry != nullptr) {
      if (auto it = entry->flows_by_name.find(flow.name()); it != entry->flows_by_name.end()) {
        existing = it->second.get();
        where = absl::StrCat("already exists in ingestion config '", config_id, "'");
      }
    }
    if (existing == nullptr) {
      if (auto it = in_request.find(flow.name()); it != in_request.end()) {
        existing = it->second;
        where = "is declared twice in one request";
      }
    }
    if (existing == nullptr) {
      in_request.emplace(flow.name(), &flow);
      to_add.push_back(&flow);
    } else if (!google::protobuf::util::MessageDifferencer::Equals(*existing, flow)) {
      return FlowConflict(*existing, flow, where);
    }
  }
  return to_add;
}

void Registry::AddFlows(ConfigEntry& entry, const std::vector<const FlowConfig*>& flows) {
  for (const FlowConfig* flow : flows) {
    auto stored = std::make_shared<const FlowConfig>(*flow);
    entry.flows_in_order.push_back(stored);
    entry.flows_by_name.emplace(flow->name(), std::move(stored));
  }
}

absl::StatusOr<Registry::IngestionConfig> Registry::CreateIngestionConfig(
    const sift::ingestion_configs::v2::CreateIngestionConfigRequest& request) {
  if (absl::Status s = RequireId("asset_name", request.asset_name()); !s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  const std::string& client_key = request.client_key();
  if (!client_key.empty()) {
    if (auto it = config_ids_by_client_key_.find(client_key);
        it != config_ids_by_client_key_.end()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "fake Sift: an ingestion config with client_key '", client_key,
          "' already exists (id ", it->second, "); find it with ListIngestionConfigs"));
    }
  }
  absl::StatusOr<std::vector<const FlowConfig*>> flows =
      FlowsToAdd(nullptr, "", request.flows());
  if (!flows.ok()) return flows.status();

  auto entry = std::make_unique<ConfigEntry>();
  entry->config.set_ingestion_config_id(NewId());
  entry->config.set_asset_id(AssetIdLocked(request.asset_name()));
  entry->config.set_client_key(client_key);
  AddFlows(*entry, *flows);
  const std::string& id = entry->config.ingestion_config_id();
  if (!client_key.empty()) config_ids_by_client_key_.emplace(client_key, id);
  configs_by_id_.emplace(id, entry.get());
  configs_.push_back(std::move(entry));
  return configs_.back()->config;
}

absl::StatusOr<Registry::IngestionConfig> Registry::GetIngestionConfig(
    absl::string_view config_id) const {
  if (absl::Status s = RequireId("ingestion_config_id", config_id); !s.ok()) return s;
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = configs_by_id_.find(config_id);
  if (it == configs_by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("fake Sift: no ingestion config with id '", config_id, "'"));
  }
  return it->second->config;
}

absl::StatusOr<sift::ingestion_configs::v2::ListIngestionConfigsResponse>
Registry::ListIngestionConfigs(
    const sift::ingestion_configs::v2::ListIngestionConfigsRequest& request) const {
  absl::StatusOr<EqualityFilter> filter =
      ParseEqualityFilter(request.filter(), {"client_key", "ingestion_config_id"});
  if (!filter.ok()) return filter.status();
  sift::ingestion_configs::v2::ListIngestionConfigsResponse response;
  std::shared_lock<std::shared_mutex> lock(mu_);
  absl::StatusOr<std::string> next = CollectPage(
      configs_, request.page_size(), request.page_token(),
      [&](const ConfigEntry& entry) {
        return filter->Matches(filter->field == "client_key" ? entry.config.client_key()
                                                             : entry.config.ingestion_config_id());
      },
      [&](const ConfigEntry& entry) { *response.add_ingestion_configs() = entry.config; });
  if (!next.ok()) return next.status();
  response.set_next_page_token(*std::move(next));
  return response;
}

absl::Status Registry::CreateFlows(
    const sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest& request) {
  const std::string& config_id = request.ingestion_config_id();
  if (absl::Status s = RequireId("ingestion_config_id", config_id); !s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = configs_by_id_.find(config_id);
  if (it == configs_by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("fake Sift: no ingestion config with id '", config_id, "'"));
  }
  absl::StatusOr<std::vector<const FlowConfig*>> flows =
      FlowsToAdd(it->second, config_id, request.flows());
  if (!flows.ok()) return flows.status();
  AddFlows(*it->second, *flows);
  return absl::OkStatus();
}

absl::StatusOr<sift::ingestion_configs::v2::ListIngestionConfigFlowsResponse> Registry::ListFlows(
    const sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest& request) const {
  const std::string& config_id = request.ingestion_config_id();
  if (absl::Status s = RequireId("ingestion_config_id", config_id); !s.ok()) return s;
  absl::StatusOr<EqualityFilter> filter =
      ParseEqualityFilter(request.filter(), {"flow_name", "name"});
  if (!filter.ok()) return filter.status();
  sift::ingestion_configs::v2::ListIngestionConfigFlowsResponse response;
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = configs_by_id_.find(config_id);
  if (it == configs_by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("fake Sift: no ingestion config with id '", config_id, "'"));
  }
  absl::StatusOr<std::string> next = CollectPage(
      it->second->flows_in_order, request.page_size(), request.page_token(),
      // Both supported fields are the flow's name.
      [&](const FlowConfig& flow) { return filter->Matches(flow.name()); },
      [&](const FlowConfig& flow) { *response.add_flows() = flow; });
  if (!next.ok()) return next.status();
  response.set_next_page_token(*std::move(next));
  return response;
}

std::shared_ptr<const Registry::FlowConfig> Registry::FindFlow(
    absl::string_view config_id, absl::string_view flow_name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto config = configs_by_id_.find(config_id);
  if (config == configs_by_id_.end()) return nullptr;
  auto flow = config->second->flows_by_name.find(flow_name);
  if (flow == config->second->flows_by_name.end()) return nullptr;
  return flow->second;
}

std::optional<std::string> Registry::FindAssetId(absl::string_view asset_name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = asset_ids_by_name_.find(asset_name);
  if (it == asset_ids_by_name_.end()) return std::nullopt;
  return it->second;
}

// --- Runs --------------------------------------------------------------------------------------

absl::StatusOr<Registry::Run> Registry::CreateRun(const sift::runs::v2::CreateRunRequest& request) {
  if (absl::Status s = RequireId("name", request.name()); !s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  const bool keyed = request.has_client_key() && !request.client_key().empty();
  if (keyed) {
    if (auto it = run_ids_by_client_key_.find(request.client_key());
        it != run_ids_by_client_key_.end()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "fake Sift: a run with client_key '", request.client_key(), "' already exists (id ",
          it->second, "); find it with ListRuns"));
    }
  }
  auto run = std::make_unique<Run>();
  run->set_run_id(NewId());
  *run->mutable_created_date() = *run->mutable_modified_date() = ToTimestamp(absl::Now());
  run->set_organization_id(request.organization_id());
  if (request.has_start_time()) *run->mutable_start_time() = request.start_time();
  if (request.has_stop_time()) *run->mutable_stop_time() = request.stop_time();
  run->set_name(request.name());
  run->set_description(request.description());
  *run->mutable_tags() = request.tags();
  if (keyed) {
    run->set_client_key(request.client_key());
    run_ids_by_client_key_.emplace(request.client_key(), run->run_id());
  }
  runs_by_id_.emplace(run->run_id(), run.get());
  runs_.push_back(std::move(run));
  return *runs_.back();
}

absl::StatusOr<Registry::Run> Registry::GetRun(absl::string_view run_id) const {
  if (absl::Status s = RequireId("run_id", run_id); !s.ok()) return s;
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = runs_by_id_.find(run_id);
  if (it == runs_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("fake Sift: no run with id '", run_id, "'"));
  }
  return *it->second;
}

absl::StatusOr<sift::runs::v2::ListRunsResponse> Registry::ListRuns(
    const sift::runs::v2::ListRunsRequest& request) const {
  absl::StatusOr<EqualityFilter> filter =
      ParseEqualityFilter(request.filter(), {"client_key", "name", "run_id"});
  if (!filter.ok()) return filter.status();
  auto field_of = [&](const Run& run) -> const std::string& {
    if (filter->field == "client_key") return run.client_key();
    return filter->field == "name" ? run.name() : run.run_id();
  };
  sift::runs::v2::ListRunsResponse response;
  std::shared_lock<std::shared_mutex> lock(mu_);
  absl::StatusOr<std::string> next = CollectPage(
      runs_, request.page_size(), request.page_token(),
      [&](const Run& run) { return filter->Matches(field_of(run)); },
      [&](const Run& run) { *response.add_runs() = run; });
  if (!next.ok()) return next.status();
  response.set_next_page_token(*std::move(next));
  return response;
}

absl::Status Registry::StopRun(absl::string_view run_id) {
  if (absl::Status s = RequireId("run_id", run_id); !s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = runs_by_id_.find(run_id);
  if (it == runs_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("fake Sift: no run with id '", run_id, "'"));
  }
  Run& run = *it->second;
  if (run.has_stop_time()) return absl::OkStatus();
  *run.mutable_stop_time() = *run.mutable_modified_date() = ToTimestamp(absl::Now());
  return absl::OkStatus();
}

absl::Status Registry::AssociateAssets(
    const sift::runs::v2::CreateAutomaticRunAssociationForAssetsRequest& request) {
  if (absl::Status s = RequireId("run_id", request.run_id()); !s.ok()) return s;
  for (const std::string& name : request.asset_names()) {
    if (name.empty()) return absl::InvalidArgumentError("fake Sift: an asset name is empty");
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = runs_by_id_.find(request.run_id());
  if (it == runs_by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("fake Sift: no run with id '", request.run_id(), "'"));
  }
  Run& run = *it->second;
  for (const std::string& name : request.asset_names()) {
    std::string asset_id = AssetIdLocked(name);
    if (std::find(run.asset_ids().begin(), run.asset_ids().end(), asset_id) ==
        run.asset_ids().end()) {
      run.add_asset_ids(std::move(asset_id));
    }
  }
  *run.mutable_modified_date() = ToTimestamp(absl::Now());
  return absl::OkStatus();
}

bool Registry::RunExists(absl::string_view run_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return runs_by_id_.contains(run_id);
}

// --- Ids ---------------------------------------------------------------------------------------

// A random (version 4) UUID, the form Sift's ids take.
std::string Registry::NewId() {
  std::string bytes(16, '\0');
  for (char& byte : bytes) byte = static_cast<char>(absl::Uniform<uint8_t>(bitgen_));
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);  // Version 4.
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant.
  const std::string hex = absl::BytesToHexString(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

std::string Registry::AssetIdLocked(absl::string_view asset_name) {
  auto it = asset_ids_by_name_.find(asset_name);
  if (it == asset_ids_by_name_.end()) {
    it = asset_ids_by_name_.emplace(std::string(asset_name), NewId()).first;
  }
  return it->second;
}

}  // namespace sift_stream::testing
