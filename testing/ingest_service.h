// testing/ingest_service.h — the fake Sift's sift.ingest.v1.IngestService, with faults.
//
// IngestServiceImpl is what the client under test talks to. For each
// IngestWithConfigDataStream call it:
//   1. checks `authorization: Bearer <api key>` (UNAUTHENTICATED otherwise);
//   2. asks the FaultController what happens to this stream; a refused stream (outage,
//      reject_all) is answered at once;
//   3. reads every message, validating it against its flow (FlowLookup): the config and flow
//      exist, one value per channel, each value's type matches its channel's (or is `empty`).
//      An invalid message is counted and skipped — or, if it asks for
//      end_stream_on_validation_error, ends the stream with INVALID_ARGUMENT naming the
//      message's index (from 0, in this stream) and what was wrong;
//   4. applies the stream's faults: ends it after K valid messages with the injected status,
//      sleeps every M messages (slow reader), and once the client half-closes, waits
//      (hang_at_end) and/or answers fail_at_end's status instead of OK;
//   5. answers OK — only then are the stream's messages committed in the IngestRecorder.
//
// What the client sees and what the recorder counts always agree: a stream is committed
// exactly when the handler returns OK, and that happens before the client can see the OK,
// so "the client saw OK" implies "committed". (The converse can fail if the OK is lost in
// transit; the client then resends and the recorder counts committed_duplicates.)
//
// Injected waits (hang_at_end, slow reader) sleep in small steps and stop as soon as the
// client cancels or BeginShutdown() is called, so that grpc::Server::Shutdown is bounded.
//
// SinkIngestService is the same method for benchmarks: raw bytes, no parsing, no validation
// and no faults; it counts messages and bytes (IngestRecorder's sink_* counters) and checks
// the API key once per stream. Register one of the two services, not both: they serve the
// same method.
//
// Example:
//
//   IngestServiceImpl ingest(&flows, &faults, &recorder, &auth);
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&ingest);
//   ...
//   ingest.BeginShutdown();
//   server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));

#ifndef SIFT_STREAM_TESTING_INGEST_SERVICE_H_
#define SIFT_STREAM_TESTING_INGEST_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/sync_stream.h>

#include <atomic>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"
#include "testing/flow_lookup.h"
#include "testing/ingest_recorder.h"

namespace sift_stream::testing {

// The recorder's key of a request. Holds views into `request`.
MessageKey KeyOf(const sift::ingest::v1::IngestWithConfigDataStreamRequest& request);

// Why `request` is invalid against `flows`, or "" if it is valid.
std::string ValidateRequest(const sift::ingest::v1::IngestWithConfigDataStreamRequest& request,
                            const FlowLookup& flows);

class IngestServiceImpl final : public sift::ingest::v1::IngestService::Service {
 public:
  // All four must outlive the service (and the server it is registered with).
  IngestServiceImpl(const FlowLookup* flows, FaultController* faults, IngestRecorder* recorder,
                    const ApiKeyCheck* auth);

  grpc::Status IngestWithConfigDataStream(
      grpc::ServerContext* context,
      grpc::ServerReader<sift::ingest::v1::IngestWithConfigDataStreamRequest>* reader,
      sift::ingest::v1::IngestWithConfigDataStreamResponse* response) override;

  // Ends every injected wait now and forever: hanging streams answer UNAVAILABLE (their
  // messages stay uncommitted, as if the server died), slow readers stop sleeping. Call
  // before grpc::Server::Shutdown. Streams blocked reading a silent client still need
  // Shutdown's deadline, which cancels them.
  void BeginShutdown() { shutting_down_.store(true, std::memory_order_relaxed); }

 private:
  using Request = sift::ingest::v1::IngestWithConfigDataStreamRequest;

  // Reads and records messages until the client half-closes or a fault or validation error
  // ends the stream; returns the early ending's status, or nullopt to go on to the end.
  std::optional<grpc::Status> ReadAll(grpc::ServerContext* context,
                                      grpc::ServerReader<Request>* reader,
                                      const StreamFaults& faults, IngestRecorder::Stream& stream);
  // After the client half-closed: hang_at_end, fail_at_end, or OK (which commits).
  grpc::Status Finish(grpc::ServerContext* context, const StreamFaults& faults,
                      IngestRecorder::Stream& stream);
  // Sleeps `duration` in small steps; false if cut short by cancellation or shutdown.
  bool Pause(grpc::ServerContext* context, absl::Duration duration) const;

  const FlowLookup* flows_;
  FaultController* faults_;
  IngestRecorder* recorder_;
  const ApiKeyCheck* auth_;
  std::atomic<bool> shutting_down_{false};
};

class SinkIngestService final
    : public sift::ingest::v1::IngestService::WithRawCallbackMethod_IngestWithConfigDataStream<
          sift::ingest::v1::IngestService::Service> {
 public:
  // Both must outlive the service (and the server it is registered with).
  SinkIngestService(IngestRecorder* recorder, const ApiKeyCheck* auth)
      : recorder_(recorder), auth_(auth) {}

  grpc::ServerReadReactor<grpc::ByteBuffer>* IngestWithConfigDataStream(
      grpc::CallbackServerContext* context, grpc::ByteBuffer* response) override;

 private:
  IngestRecorder* recorder_;
  const ApiKeyCheck* auth_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_INGEST_SERVICE_H_
