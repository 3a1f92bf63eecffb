// testing/ingest_test_server.h — test-only helpers for the ingest service tests: an in-test
// FlowLookup, a "vehicle" flow and its messages, and IngestTestServer, a real gRPC server on
// 127.0.0.1:<any port> serving IngestServiceImpl (or SinkIngestService) with a sync client
// stub, so that tests see statuses exactly as a client does.
//
//   IngestTestServer server;
//   server.SetFaults(plan);
//   grpc::Status status = server.Send(Vehicles(0, 20));
//   EXPECT_EQ(server.Stats().committed_messages, 20);

#ifndef SIFT_STREAM_TESTING_INGEST_TEST_SERVER_H_
#define SIFT_STREAM_TESTING_INGEST_TEST_SERVER_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/sift/common/type/v1/channel_data_type.pb.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"
#include "testing/flow_lookup.h"
#include "testing/ingest_recorder.h"
#include "testing/ingest_service.h"

// Nested, so that these short names cannot clash with other test helpers of the package.
namespace sift_stream::testing::ingest_test {

using IngestRequest = ::sift::ingest::v1::IngestWithConfigDataStreamRequest;
using FlowConfig = ::sift::ingestion_configs::v2::FlowConfig;
using ChannelDataType = ::sift::common::type::v1::ChannelDataType;

inline constexpr char kTestApiKey[] = "test-key";
inline constexpr char kTestConfig[] = "config-1";

// The in-test FlowLookup: flows by (config id, flow name).
class MapFlows : public FlowLookup {
 public:
  void Add(const std::string& config_id, const FlowConfig& flow) {
    absl::MutexLock lock(&mu_);
    flows_[{config_id, flow.name()}] = std::make_shared<const FlowConfig>(flow);
  }
  std::shared_ptr<const FlowConfig> FindFlow(const std::string& config_id,
                                             const std::string& flow_name) const override {
    absl::MutexLock lock(&mu_);
    auto it = flows_.find(std::make_pair(config_id, flow_name));
    return it == flows_.end() ? nullptr : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::string>, std::shared_ptr<const FlowConfig>> flows_
      ABSL_GUARDED_BY(mu_);
};

inline FlowConfig Flow(const std::string& name, const std::vector<ChannelDataType>& types) {
  FlowConfig flow;
  flow.set_name(name);
  for (size_t i = 0; i < types.size(); ++i) {
    auto* channel = flow.add_channels();
    channel->set_name(absl::StrCat(name, "_channel_", i));
    channel->set_data_type(types[i]);
  }
  return flow;
}

// "vehicle": speed (double), gear (int32), label (string).
inline FlowConfig VehicleFlow() {
  return Flow("vehicle", {sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE,
                          sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32,
                          sift::common::type::v1::CHANNEL_DATA_TYPE_STRING});
}

// A valid "vehicle" message; `i` makes its key (the timestamp) distinct.
inline IngestRequest Vehicle(int64_t i) {
  IngestRequest request;
  request.set_ingestion_config_id(kTestConfig);
  request.set_flow("vehicle");
  request.mutable_timestamp()->set_seconds(1764000000 + i);
  request.mutable_timestamp()->set_nanos(static_cast<int32_t>(i % 1000));
  request.set_run_id("run-1");
  request.add_channel_values()->set_double_(1.5 * static_cast<double>(i));
  request.add_channel_values()->set_int32(static_cast<int32_t>(i % 6));
  request.add_channel_values()->set_string("cruise");
  return request;
}

inline std::vector<IngestRequest> Vehicles(int64_t first, int64_t count) {
  std::vector<IngestRequest> requests;
  for (int64_t i = first; i < first + count; ++i) requests.push_back(Vehicle(i));
  return requests;
}

inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time until = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

struct SendOptions {
  std::string authorization = absl::StrCat("Bearer ", kTestApiKey);  // "": no header at all.
  std::optional<absl::Duration> deadline;
};

// A fake Sift ingest server on 127.0.0.1:<any port> and a client stub to it.
class IngestTestServer {
 public:
  enum class Mode { kIngest, kSink };

  explicit IngestTestServer(Mode mode = Mode::kIngest)
      : auth_({kTestApiKey}),
        ingest_(&flows_, &faults_, &recorder_, &auth_),
        sink_(&recorder_, &auth_) {
    flows_.Add(kTestConfig, VehicleFlow());
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    if (mode == Mode::kIngest) {
      builder.RegisterService(&ingest_);
    } else {
      builder.RegisterService(&sink_);
    }
    server_ = builder.BuildAndStart();
    stub_ = sift::ingest::v1::IngestService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~IngestTestServer() { Shutdown(absl::Seconds(5)); }

  void Shutdown(absl::Duration grace) {
    ingest_.BeginShutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  }

  grpc::Status Send(const std::vector<IngestRequest>& requests, const SendOptions& options = {}) {
    grpc::ClientContext context;
    Prepare(context, options);
    sift::ingest::v1::IngestWithConfigDataStreamResponse response;
    auto writer = stub_->IngestWithConfigDataStream(&context, &response);
    for (const IngestRequest& request : requests) {
      if (!writer->Write(request)) break;  // The server ended the stream; Finish says why.
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static void Prepare(grpc::ClientContext& context, const SendOptions& options) {
    if (!options.authorization.empty()) {
      context.AddMetadata("authorization", options.authorization);
    }
    if (options.deadline.has_value()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + *options.deadline));
    }
  }

  void SetFaults(const FaultPlan& plan) { faults_.Set(plan); }
  IngestStats Stats() const { return recorder_.Stats(); }
  bool Committed(const IngestRequest& request) const { return recorder_.Committed(KeyOf(request)); }
  int64_t ArrivalCount(const IngestRequest& request) const {
    return recorder_.ArrivalCount(KeyOf(request));
  }
  sift::ingest::v1::IngestService::Stub& stub() { return *stub_; }
  FaultController& faults() { return faults_; }

 private:
  MapFlows flows_;
  FaultController faults_;
  IngestRecorder recorder_;
  ApiKeyCheck auth_;
  IngestServiceImpl ingest_;
  SinkIngestService sink_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<sift::ingest::v1::IngestService::Stub> stub_;
};

}  // namespace sift_stream::testing::ingest_test

#endif  // SIFT_STREAM_TESTING_INGEST_TEST_SERVER_H_
