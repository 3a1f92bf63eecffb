#include "testing/fake_sift.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "testing/config_service.h"
#include "testing/flow_lookup.h"
#include "testing/ingest_service.h"
#include "testing/run_service.h"

namespace sift_stream::testing {
namespace {

class RegistryFlows final : public FlowLookup {
 public:
  explicit RegistryFlows(const Registry& registry) : registry_(registry) {}
  std::shared_ptr<const sift::ingestion_configs::v2::FlowConfig> FindFlow(
      const std::string& config_id, const std::string& flow_name) const override {
    return registry_.FindFlow(config_id, flow_name);
  }

 private:
  const Registry& registry_;
};

void Add(UnaryStats& total, const UnaryStats& more) {
  total.calls += more.calls;
  total.failures += more.failures;
  total.injected_failures += more.injected_failures;
}

std::string UnaryJson(const UnaryStats& stats) {
  return absl::StrFormat("{\"calls\":%d,\"failures\":%d,\"injected_failures\":%d}", stats.calls,
                         stats.failures, stats.injected_failures);
}

}  // namespace

// One generation of service objects: a gRPC service can belong to one server only, so a
// restart builds new ones over the same registry, recorder and faults.
struct FakeSift::Services {
  Services(FakeSift& sift)
      : flows(sift.registry_),
        configs(sift.registry_, sift.auth_, sift.faults_),
        runs(sift.registry_, sift.auth_, sift.faults_),
        ingest(&flows, &sift.faults_, &sift.recorder_, &sift.auth_),
        sink(&sift.recorder_, &sift.auth_) {}

  RegistryFlows flows;
  IngestionConfigServiceImpl configs;
  RunServiceImpl runs;
  IngestServiceImpl ingest;
  SinkIngestService sink;
};

std::string FakeSiftStats::ToJson() const {
  std::string ingest_json = ingest.ToJson();
  return absl::StrCat("{\"ingest\":", ingest_json,
                      ",\"ingestion_config_calls\":", UnaryJson(ingestion_config_calls),
                      ",\"run_calls\":", UnaryJson(run_calls), ",\"restarts\":", restarts, "}");
}

FakeSift::FakeSift(FakeSiftOptions options)
    : options_(std::move(options)), auth_(options_.api_keys) {
  faults_.Set(options_.faults);
}

absl::StatusOr<std::unique_ptr<FakeSift>> FakeSift::Start(FakeSiftOptions options) {
  std::unique_ptr<FakeSift> sift(new FakeSift(std::move(options)));
  std::lock_guard<std::mutex> lock(sift->mu_);
  absl::Status listening = sift->Listen(sift->options_.port);
  if (!listening.ok()) return listening;
  return sift;
}

FakeSift::~FakeSift() { Shutdown(); }

std::string FakeSift::address() const { return absl::StrCat(options_.host, ":", port_); }

absl::Status FakeSift::Listen(int port) {
  auto services = std::make_unique<Services>(*this);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  const std::string address = absl::StrCat(options_.host, ":", port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&services->configs);
  builder.RegisterService(&services->runs);
  if (options_.sink) {
    builder.RegisterService(&services->sink);
  } else {
    builder.RegisterService(&services->ingest);
  }
  // gRPC would let a second server share the port (SO_REUSEPORT); a test that reuses a
  // port by mistake must get an error instead of a server that sees half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Telemetry requests are small, but a user's flow may carry large bytes values.
  builder.SetMaxReceiveMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "fake Sift could not listen on ", address,
        port == 0 ? "" : " (is the port in use? pass port 0 to pick a free one)"));
  }
  port_ = bound_port;
  services_ = std::move(services);
  server_ = std::move(server);
  return absl::OkStatus();
}

void FakeSift::StopListening(absl::Duration grace) {
  if (server_ == nullptr) return;
  services_->ingest.BeginShutdown();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::microseconds(absl::ToInt64Microseconds(grace)));
  server_->Wait();
  server_.reset();
  Add(past_config_calls_, services_->configs.stats());
  Add(past_run_calls_, services_->runs.stats());
  services_.reset();
}

void FakeSift::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(mu_);
  StopListening(grace);
}

void FakeSift::RefuseStreamsFor(absl::Duration duration) {
  FaultPlan plan = faults_.Get();
  plan.refuse_streams_until = absl::Now() + duration;
  faults_.Set(plan);
}

absl::Status FakeSift::Restart(absl::Duration down_for) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (server_ == nullptr) return absl::FailedPreconditionError("fake Sift is shut down");
    StopListening(absl::ZeroDuration());  // A crash, not a drain: cut every stream now.
  }
  absl::SleepFor(down_for);  // Unlocked: Stats() keeps answering while the server is down.
  std::lock_guard<std::mutex> lock(mu_);
  ++restarts_;
  return Listen(port_);
}

FakeSiftStats FakeSift::Stats() const {
  FakeSiftStats stats;
  stats.ingest = recorder_.Stats();
  std::lock_guard<std::mutex> lock(mu_);
  stats.ingestion_config_calls = past_config_calls_;
  stats.run_calls = past_run_calls_;
  if (services_ != nullptr) {
    Add(stats.ingestion_config_calls, services_->configs.stats());
    Add(stats.run_calls, services_->runs.stats());
  }
  stats.restarts = restarts_;
  return stats;
}

}  // namespace sift_stream::testing
