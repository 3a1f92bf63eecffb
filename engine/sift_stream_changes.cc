// SiftStream's changes of course while streaming: AttachRun, DetachRun, AddFlows and the
// auto-registration of flows (engine/sift_stream.h, "Changing course"). Each change makes its
// calls to Sift first and publishes a new RequestBuilder only once they succeeded, so a failed
// change leaves the stream as it was; changes_mu_ keeps two changes from interleaving.

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/stream_state.h"
#include "google/protobuf/util/message_differencer.h"

namespace sift_stream {
namespace {

using sift::ingestion_configs::v2::FlowConfig;

// What is wrong with `flows` on their own, before asking anyone: Sift would refuse these too,
// but with less to go on.
absl::Status ValidateFlows(const std::vector<FlowConfig>& flows) {
  absl::flat_hash_set<std::string> names;
  for (const FlowConfig& flow : flows) {
    if (flow.name().empty()) return absl::InvalidArgumentError("a flow needs a name");
    if (!names.insert(flow.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("flow '", flow.name(), "' is given twice; flow names must be unique"));
    }
    if (flow.channels_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("flow '", flow.name(), "' needs at least one channel"));
    }
    for (int i = 0; i < flow.channels_size(); ++i) {
      const auto& channel = flow.channels(i);
      if (channel.name().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flow '", flow.name(), "', channel ", i, " needs a name"));
      }
      if (channel.data_type() == sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED) {
        return absl::InvalidArgumentError(absl::StrCat("flow '", flow.name(), "', channel ", i,
                                                       " '", channel.name(),
                                                       "' needs a data type"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SiftStream::RefuseIfFinished() const {
  if (!finished_.load()) return absl::OkStatus();
  return absl::FailedPreconditionError("the stream has finished: Finish() was called");
}

absl::StatusOr<std::string> SiftStream::AttachRun(RunSpec run) {
  if (run.kind == RunSpec::Kind::kNone) {
    return absl::InvalidArgumentError("AttachRun needs a run; to leave one, call DetachRun()");
  }
  if (absl::Status finished = RefuseIfFinished(); !finished.ok()) return finished;
  std::lock_guard<std::mutex> lock(changes_mu_);
  absl::StatusOr<std::string> run_id =
      engine::ResolveRun(calls_.channel, run, calls_.organization_id, calls_.options);
  if (!run_id.ok()) return run_id.status();
  state_->Publish(state_->Load().builder->WithRunId(*run_id));
  return run_id;
}

absl::Status SiftStream::DetachRun() {
  if (absl::Status finished = RefuseIfFinished(); !finished.ok()) return finished;
  std::lock_guard<std::mutex> lock(changes_mu_);
  state_->Publish(state_->Load().builder->WithRunId(""));
  return absl::OkStatus();
}

absl::Status SiftStream::AddFlows(std::vector<FlowConfig> flows) {
  if (absl::Status valid = ValidateFlows(flows); !valid.ok()) return valid;
  if (absl::Status finished = RefuseIfFinished(); !finished.ok()) return finished;
  if (flows.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(changes_mu_);
  return AddFlowsLocked(flows);
}

absl::Status SiftStream::AddFlowsLocked(const std::vector<FlowConfig>& flows) {
  const std::shared_ptr<const engine::RequestBuilder> current = state_->Load().builder;
  std::vector<FlowConfig> fresh;
  for (const FlowConfig& flow : flows) {
    const FlowConfig* known = current->Find(flow.name());
    if (known == nullptr) {
      fresh.push_back(flow);
    } else if (!google::protobuf::util::MessageDifferencer::Equals(*known, flow)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "flow '", flow.name(), "' is already registered on this stream as ",
          engine::DescribeChannels(*known), ", not ", engine::DescribeChannels(flow),
          "; flows cannot change: give the new layout a new name"));
    }
  }
  if (fresh.empty()) return absl::OkStatus();
  absl::Status registered = engine::RegisterFlows(calls_.channel, setup_.ingestion_config_id,
                                                  calls_.client_key, fresh, calls_.options);
  if (!registered.ok()) return registered;
  state_->Publish(current->WithFlows(fresh));
  return absl::OkStatus();
}

absl::Status SiftStream::RegisterInferred(absl::StatusOr<FlowConfig> inferred) {
  if (!inferred.ok()) return inferred.status();
  if (absl::Status finished = RefuseIfFinished(); !finished.ok()) return finished;
  std::lock_guard<std::mutex> lock(changes_mu_);
  // Another thread may have registered it meanwhile, maybe in another shape: then the message
  // is checked against that shape like any other, by the caller.
  if (state_->Load().builder->Find(inferred->name()) != nullptr) return absl::OkStatus();
  return AddFlowsLocked({*inferred});
}

std::string SiftStream::run_id() const { return state_->Load().builder->run_id(); }

std::vector<FlowConfig> SiftStream::flows() const { return state_->Load().builder->flows(); }

uint64_t SiftStream::state_generation() const { return state_->generation(); }

std::string SiftStream::CurrentRunId(uint64_t* generation) const {
  engine::StreamState::Snapshot state = state_->Load();
  *generation = state.generation;
  return state.builder->run_id();
}

}  // namespace sift_stream
