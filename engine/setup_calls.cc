#include "engine/setup_calls.h"

#include <grpcpp/client_context.h>

#include <chrono>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"
#include "proto/sift/runs/v2/runs.grpc.pb.h"

namespace sift_stream::engine {
namespace {

namespace configs = sift::ingestion_configs::v2;
namespace runs = sift::runs::v2;

std::string Quoted(const std::string& value) {
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

class Caller {
 public:
  Caller(const SetupOptions& options) : options_(options), rng_(std::random_device{}()) {}

  // Calls `call(context)` until it succeeds, fails for good, or the retry budget is spent.
  template <typename Call>
  absl::Status Run(const char* name, Call call) {
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + options_.api_key);
      context.set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoMicroseconds(options_.timeout));
      grpc::Status status = call(&context);
      if (status.ok()) return absl::OkStatus();
      const bool out_of_attempts =
          options_.retry.max_attempts > 0 && attempt >= options_.retry.max_attempts;
      if (!SetupCallMayRetry(status.error_code()) || out_of_attempts) {
        return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                            absl::StrCat("Sift ", name, " failed after ", attempt,
                                         " attempt(s): ", status.error_message()));
      }
      ++retries;
      absl::SleepFor(RetryBackoff(options_.retry, attempt, rng_));
    }
  }

  int retries = 0;

 private:
  const SetupOptions& options_;
  std::mt19937_64 rng_;
};

absl::StatusOr<configs::IngestionConfig> FindOrCreateConfig(configs::IngestionConfigService::Stub& stub,
                                                            const IngestionConfigSpec& spec,
                                                            Caller& caller) {
  configs::ListIngestionConfigsRequest list;
  list.set_filter(absl::StrCat("client_key == ", Quoted(spec.client_key)));
  configs::ListIngestionConfigsResponse listed;
  absl::Status status = caller.Run("ListIngestionConfigs", [&](grpc::ClientContext* c) {
    return stub.ListIngestionConfigs(c, list, &listed);
  });
  if (!status.ok()) return status;
  for (const auto& config : listed.ingestion_configs()) {
    if (config.client_key() == spec.client_key) return config;
  }
  configs::CreateIngestionConfigRequest create;
  create.set_asset_name(spec.asset_name);
  create.set_client_key(spec.client_key);
  create.set_organization_id(spec.organization_id);
  for (const auto& flow : spec.flows) *create.add_flows() = flow;
  configs::CreateIngestionConfigResponse created;
  status = caller.Run("CreateIngestionConfig", [&](grpc::ClientContext* c) {
    return stub.CreateIngestionConfig(c, create, &created);
  });
  if (!status.ok()) return status;
  return created.ingestion_config();
}

absl::StatusOr<absl::flat_hash_map<std::string, configs::FlowConfig>> ListFlows(
    configs::IngestionConfigService::Stub& stub, const std::string& config_id, Caller& caller) {
  absl::flat_hash_map<std::string, configs::FlowConfig> flows;
  configs::ListIngestionConfigFlowsRequest list;
  list.set_ingestion_config_id(config_id);
  do {
    configs::ListIngestionConfigFlowsResponse page;
    absl::Status status = caller.Run("ListIngestionConfigFlows", [&](grpc::ClientContext* c) {
      return stub.ListIngestionConfigFlows(c, list, &page);
    });
    if (!status.ok()) return status;
    for (const auto& flow : page.flows()) flows[flow.name()] = flow;
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  return flows;
}

// Declared flows the server lacks are created; one it has with other channels is an error.
absl::Status ReconcileFlows(configs::IngestionConfigService::Stub& stub,
                            const std::string& config_id, const std::string& client_key,
                            const std::vector<configs::FlowConfig>& flows, Caller& caller) {
  if (flows.empty()) return absl::OkStatus();
  auto existing = ListFlows(stub, config_id, caller);
  if (!existing.ok()) return existing.status();
  configs::CreateIngestionConfigFlowsRequest create;
  create.set_ingestion_config_id(config_id);
  for (const auto& flow : flows) {
    auto it = existing->find(flow.name());
    if (it == existing->end()) {
      *create.add_flows() = flow;
    } else if (!google::protobuf::util::MessageDifferencer::Equals(it->second, flow)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "flow '", flow.name(), "' already exists in ingestion config ", config_id,
          " (client_key ", Quoted(client_key), ") with different channels; give the "
          "changed flow a new name, or use a new client_key for the new layout"));
    }
  }
  if (create.flows_size() == 0) return absl::OkStatus();
  configs::CreateIngestionConfigFlowsResponse created;
  return caller.Run("CreateIngestionConfigFlows", [&](grpc::ClientContext* c) {
    return stub.CreateIngestionConfigFlows(c, create, &created);
  });
}

absl::StatusOr<std::string> FindOrCreateRun(runs::RunService::Stub& stub, const RunSpec& spec,
                                            const std::string& organization_id, Caller& caller) {
  if (spec.kind == RunSpec::Kind::kNone) return std::string();
  if (spec.kind == RunSpec::Kind::kById) {
    runs::GetRunRequest get;
    get.set_run_id(spec.run_id);
    runs::GetRunResponse got;
    absl::Status status =
        caller.Run("GetRun", [&](grpc::ClientContext* c) { return stub.GetRun(c, get, &got); });
    if (!status.ok()) return status;
    return got.run().run_id();
  }
  if (spec.kind == RunSpec::Kind::kByClientKey) {
    runs::ListRunsRequest list;
    list.set_filter(absl::StrCat("client_key == ", Quoted(spec.client_key)));
    runs::ListRunsResponse listed;
    absl::Status status = caller.Run(
        "ListRuns", [&](grpc::ClientContext* c) { return stub.ListRuns(c, list, &listed); });
    if (!status.ok()) return status;
    for (const auto& run : listed.runs()) {
      if (run.client_key() == spec.client_key) return run.run_id();
    }
  }
  runs::CreateRunRequest create;
  create.set_name(spec.name);
  create.set_description(spec.description);
  for (const auto& tag : spec.tags) create.add_tags(tag);
  create.set_organization_id(organization_id);
  if (spec.kind == RunSpec::Kind::kByClientKey) create.set_client_key(spec.client_key);
  runs::CreateRunResponse created;
  absl::Status status = caller.Run(
      "CreateRun", [&](grpc::ClientContext* c) { return stub.CreateRun(c, create, &created); });
  if (!status.ok()) return status;
  return created.run().run_id();
}

absl::Status ValidateRun(const RunSpec& run) {
  if (run.kind == RunSpec::Kind::kById && run.run_id.empty()) {
    return absl::InvalidArgumentError("a run given by id needs the id");
  }
  if (run.kind == RunSpec::Kind::kByClientKey && run.client_key.empty()) {
    return absl::InvalidArgumentError("a run given by client_key needs the client_key");
  }
  return absl::OkStatus();
}

absl::Status ValidateSpec(const IngestionConfigSpec& config, const RunSpec& run,
                          const SetupOptions& options) {
  if (config.client_key.empty()) {
    return absl::InvalidArgumentError("the ingestion config needs a client_key");
  }
  if (config.asset_name.empty()) {
    return absl::InvalidArgumentError("the ingestion config needs an asset_name");
  }
  if (config.flows.empty() && options.require_flows) {
    return absl::InvalidArgumentError("declare at least one flow");
  }
  return ValidateRun(run);
}

}  // namespace

absl::StatusOr<SetupResult> RunSetupCalls(const std::shared_ptr<grpc::Channel>& channel,
                                          const IngestionConfigSpec& config, const RunSpec& run,
                                          const SetupOptions& options) {
  if (absl::Status valid = ValidateSpec(config, run, options); !valid.ok()) return valid;
  Caller caller(options);
  auto config_stub = configs::IngestionConfigService::NewStub(channel);
  auto found = FindOrCreateConfig(*config_stub, config, caller);
  if (!found.ok()) return found.status();
  if (absl::Status flows = ReconcileFlows(*config_stub, found->ingestion_config_id(),
                                          config.client_key, config.flows, caller);
      !flows.ok()) {
    return flows;
  }
  auto run_stub = runs::RunService::NewStub(channel);
  auto run_id = FindOrCreateRun(*run_stub, run, config.organization_id, caller);
  if (!run_id.ok()) return run_id.status();
  SetupResult result;
  result.ingestion_config_id = found->ingestion_config_id();
  result.asset_id = found->asset_id();
  result.run_id = *run_id;
  result.flows = config.flows;
  result.retries = caller.retries;
  return result;
}

absl::Status RegisterFlows(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& config_id, const std::string& client_key,
                           const std::vector<configs::FlowConfig>& flows,
                           const SetupOptions& options) {
  if (flows.empty()) return absl::InvalidArgumentError("no flows to register");
  Caller caller(options);
  auto stub = configs::IngestionConfigService::NewStub(channel);
  return ReconcileFlows(*stub, config_id, client_key, flows, caller);
}

absl::StatusOr<std::string> ResolveRun(const std::shared_ptr<grpc::Channel>& channel,
                                       const RunSpec& run, const std::string& organization_id,
                                       const SetupOptions& options) {
  if (absl::Status valid = ValidateRun(run); !valid.ok()) return valid;
  Caller caller(options);
  auto stub = runs::RunService::NewStub(channel);
  return FindOrCreateRun(*stub, run, organization_id, caller);
}

}  // namespace sift_stream::engine
