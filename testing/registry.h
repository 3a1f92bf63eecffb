// testing/registry.h — the fake Sift server's memory: ingestion configs, their flows, runs and
// asset names, as real Sift would hold them in its database.
//
// The Registry speaks Sift's own messages (sift.ingestion_configs.v2, sift.runs.v2), so the
// gRPC services on top of it only add authentication, fault injection and status mapping, and
// a test can preload or inspect it without a network. Every rule a user can break is checked
// here, once, with the Abseil status code real Sift answers with:
//
//   * INVALID_ARGUMENT  a missing name, a channel without a data type, an unsupported filter
//                       or a malformed page token;
//   * NOT_FOUND         an unknown ingestion config or run id;
//   * ALREADY_EXISTS    a second config or run with the same client_key, or a flow redeclared
//                       under an existing name with different channels.
//
// Flows are immutable once created, as in Sift: declaring the same flow again (same name, same
// channels) is a no-op, which is what lets a restarted client re-run its start-up sequence.
//
// Filters are the one CEL form Sift's clients send: a single equality `field == "value"` (or
// with single quotes); the empty filter matches everything. Anything else is refused with
// INVALID_ARGUMENT naming the filter and the fields supported, rather than silently matching
// too much. Lists are in creation order; page tokens are offsets into the filtered list (ids
// are never deleted, so a token stays valid while entries are added).
//
// Thread-safety: every method may be called from any thread. The ingest hot path, FindFlow,
// takes only a reader lock and returns a shared_ptr to an immutable flow.
//
// Example:
//
//   Registry registry;
//   CreateIngestionConfigRequest request;
//   request.set_asset_name("rover");
//   request.set_client_key("rover-config-v1");
//   absl::StatusOr<IngestionConfig> config = registry.CreateIngestionConfig(request);
//   ...
//   std::shared_ptr<const FlowConfig> flow =
//       registry.FindFlow(config->ingestion_config_id(), "imu");
//   if (flow == nullptr) { /* the ingest request names an undeclared flow */ }

#ifndef SIFT_STREAM_TESTING_REGISTRY_H_
#define SIFT_STREAM_TESTING_REGISTRY_H_

#include <shared_mutex>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "proto/sift/runs/v2/runs.pb.h"
#include "testing/list_query.h"

namespace sift_stream::testing {

class Registry {
 public:
  using IngestionConfig = sift::ingestion_configs::v2::IngestionConfig;
  using FlowConfig = sift::ingestion_configs::v2::FlowConfig;
  using Run = sift::runs::v2::Run;

  // A list request with page_size 0 gets this many entries; larger sizes are capped at
  // kMaxPageSize. (See list_query.h for filters and page tokens.)
  static constexpr uint32_t kDefaultPageSize = testing::kDefaultPageSize;
  static constexpr uint32_t kMaxPageSize = testing::kMaxPageSize;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // --- Ingestion configs and flows ---------------------------------------------------------

  // Creates a config for `asset_name` (required) with the flows given, all or nothing. The
  // asset gets an id on first use and keeps it. A non-empty client_key must be unused.
  absl::StatusOr<IngestionConfig> CreateIngestionConfig(
      const sift::ingestion_configs::v2::CreateIngestionConfigRequest& request);

  absl::StatusOr<IngestionConfig> GetIngestionConfig(absl::string_view config_id) const;

  // Filters: `client_key == "x"`, `ingestion_config_id == "x"`, or empty.
  absl::StatusOr<sift::ingestion_configs::v2::ListIngestionConfigsResponse> ListIngestionConfigs(
      const sift::ingestion_configs::v2::ListIngestionConfigsRequest& request) const;

  // Adds flows to a config, all or nothing: NOT_FOUND for an unknown config; a flow already
  // present with identical channels is skipped; one present with other channels is
  // ALREADY_EXISTS and nothing is added.
  absl::Status CreateFlows(
      const sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest& request);

  // Filters: `flow_name == "x"`, `name == "x"`, or empty. NOT_FOUND for an unknown config.
  absl::StatusOr<sift::ingestion_configs::v2::ListIngestionConfigFlowsResponse> ListFlows(
      const sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest& request) const;

  // The flow `flow_name` of config `config_id`, or nullptr if either is unknown. Cheap: one
  // reader lock, two hash lookups and a reference-count increment; the flow never changes.
  std::shared_ptr<const FlowConfig> FindFlow(absl::string_view config_id,
                                             absl::string_view flow_name) const;

  // The id given to `asset_name`, if any config or run association has named it.
  std::optional<std::string> FindAssetId(absl::string_view asset_name) const;

  // --- Runs --------------------------------------------------------------------------------

  // Creates a run (name required); created/modified dates are now, start/stop times are
  // copied if given. A non-empty client_key must be unused.
  absl::StatusOr<Run> CreateRun(const sift::runs::v2::CreateRunRequest& request);

  absl::StatusOr<Run> GetRun(absl::string_view run_id) const;

  // Filters: `client_key == "x"`, `name == "x"`, `run_id == "x"`, or empty. order_by is
  // ignored: runs come in creation order.
  absl::StatusOr<sift::runs::v2::ListRunsResponse> ListRuns(
      const sift::runs::v2::ListRunsRequest& request) const;

  // Sets the run's stop time to now; stopping a stopped run keeps the first stop time.
  absl::Status StopRun(absl::string_view run_id);

  // Associates the named assets (ids created on first use) with the run, once each.
  absl::Status AssociateAssets(
      const sift::runs::v2::CreateAutomaticRunAssociationForAssetsRequest& request);

  bool RunExists(absl::string_view run_id) const;

 private:
  struct ConfigEntry {
    IngestionConfig config;
    std::vector<std::shared_ptr<const FlowConfig>> flows_in_order;
    absl::flat_hash_map<std::string, std::shared_ptr<const FlowConfig>> flows_by_name;
  };

  // Checks `flows` against `entry` and against each other; returns the ones to add.
  static absl::StatusOr<std::vector<const FlowConfig*>> FlowsToAdd(
      const ConfigEntry* entry, absl::string_view config_id,
      const google::protobuf::RepeatedPtrField<FlowConfig>& flows);
  static void AddFlows(ConfigEntry& entry, const std::vector<const FlowConfig*>& flows);

  std::string NewId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string AssetIdLocked(absl::string_view asset_name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // std::shared_mutex, not absl::Mutex: ThreadSanitizer sees pthread locks, not Debian's
  // uninstrumented Abseil.
  mutable std::shared_mutex mu_;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  // Entries are never removed; the vectors keep creation order for listing and paging.
  std::vector<std::unique_ptr<ConfigEntry>> configs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, ConfigEntry*> configs_by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> config_ids_by_client_key_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Run*> runs_by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> run_ids_by_client_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> asset_ids_by_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_REGISTRY_H_
