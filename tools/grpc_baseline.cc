// grpc_baseline — the plainest fast gRPC C++ client, as the yardstick for tools/bench.
//
// It does only what any client must do to stream telemetry to Sift: one synchronous client
// stream (IngestService/IngestWithConfigDataStream), one request object reused for every
// message, with its timestamp and its C double values changed before each write (so gRPC
// serializes every message, as the engine does once per Send), and write coalescing: the
// buffer hint on every write but every --batch-th, so gRPC batches writes into few syscalls.
// No backups, no validation, no queue, no second thread: what is left is the cost of gRPC and
// protobuf themselves, which the engine cannot go below.
//
// Contract (tools/bench_report relies on it; flags mirror tools/bench):
//   grpc_baseline --uri=HOST:PORT --api_key=K --messages=N --channels=C [--batch=B]
//                 [--no_setup_calls] [--start_us=S] [--tls] [--rate=R]
// The request has the same fields and size as bench's with --no_setup_calls: flow "bench",
// the fixed config id, no run id. There are never set-up calls (--no_setup_calls is accepted
// for symmetry with bench and changes nothing). Human progress goes to stderr; the last stdout
// line is one JSON object with ok, sent, msgs_per_s, mb_per_s, cpu_ns_per_msg (process CPU,
// getrusage), peak_rss_kb, bytes_per_msg. --rate=R paces the writes to R messages/s, as bench's
// --rate does, so CPU per message can be compared at equal load. Exit status 0 only if the
// server acknowledged the stream (status OK after WritesDone).

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "grpcpp/grpcpp.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"

DEFINE_string(uri, "127.0.0.1:50051", "Sift gRPC address, host:port");
DEFINE_string(api_key, "", "API key");
DEFINE_bool(tls, false, "use TLS (real Sift); plaintext for loopback servers");
DEFINE_int64(messages, 1000000, "messages to send");
DEFINE_int32(channels, 10, "double channels per message");
DEFINE_int32(batch, 64, "every Nth write goes without the buffer hint (flushes the batch)");
DEFINE_bool(no_setup_calls, true, "accepted for symmetry with bench: there are never any");
DEFINE_int64(start_us, 0, "timestamp of message 0 in µs since the epoch; 0: now");
DEFINE_double(rate, 0, "messages per second; 0: as fast as the stream takes them");

namespace sift_stream {
namespace {

using sift::ingest::v1::IngestService;
using sift::ingest::v1::IngestWithConfigDataStreamRequest;
using sift::ingest::v1::IngestWithConfigDataStreamResponse;

// The same id bench streams into with --no_setup_calls, so both send identical bytes.
constexpr char kFixedConfigId[] = "00000000-0000-4000-8000-000000000bec";

struct Usage {
  double cpu_seconds = 0;
  long peak_rss_kb = 0;
};

Usage ProcessUsage() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return {usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
              (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6,
          usage.ru_maxrss};
}

IngestWithConfigDataStreamRequest TemplateRequest() {
  IngestWithConfigDataStreamRequest request;
  request.set_ingestion_config_id(kFixedConfigId);
  request.set_flow("bench");
  for (int c = 0; c < FLAGS_channels; ++c) request.add_channel_values()->set_double_(0);
  return request;
}

// Message i: timestamp start + i µs and values i * 0.001 + c, as bench sends them.
void Stamp(IngestWithConfigDataStreamRequest& request, absl::Time start, int64_t i) {
  const int64_t nanos = absl::ToUnixNanos(start + absl::Microseconds(i));
  request.mutable_timestamp()->set_seconds(nanos / 1000000000);
  request.mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  for (int c = 0; c < FLAGS_channels; ++c) {
    request.mutable_channel_values(c)->set_double_(i * 0.001 + c);
  }
}

// Sleeps until message `i` is due at --rate since `start` (checked every 64 messages).
void Pace(absl::Time start, int64_t i) {
  const absl::Time due = start + absl::Seconds(i / FLAGS_rate);
  const absl::Duration ahead = due - absl::Now();
  if (ahead > absl::ZeroDuration()) absl::SleepFor(ahead);
}

struct Result {
  grpc::Status status;
  int64_t sent = 0;
  int64_t bytes = 0;
};

// Streams every message on one call; a failed Write ends the loop and Finish says why.
Result Stream(IngestService::Stub& stub, absl::Time first_timestamp) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + FLAGS_api_key);
  IngestWithConfigDataStreamResponse response;
  std::unique_ptr<grpc::ClientWriter<IngestWithConfigDataStreamRequest>> writer =
      stub.IngestWithConfigDataStream(&context, &response);
  IngestWithConfigDataStreamRequest request = TemplateRequest();
  Result result;
  const int batch = std::max(1, FLAGS_batch);
  const absl::Time started = absl::Now();
  for (int64_t i = 0; i < FLAGS_messages; ++i) {
    if (FLAGS_rate > 0 && i % 64 == 0) Pace(started, i);
    Stamp(request, first_timestamp, i);
    grpc::WriteOptions options;
    if ((i + 1) % batch != 0 && i + 1 != FLAGS_messages) options.set_buffer_hint();
    if (!writer->Write(request, options)) break;
    ++result.sent;
    result.bytes += static_cast<int64_t>(request.ByteSizeLong());
  }
  writer->WritesDone();
  result.status = writer->Finish();
  return result;
}

int Run() {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      FLAGS_tls ? grpc::SslCredentials(grpc::SslCredentialsOptions())
                : grpc::InsecureChannelCredentials();
  std::unique_ptr<IngestService::Stub> stub =
      IngestService::NewStub(grpc::CreateChannel(FLAGS_uri, credentials));
  const absl::Time start = absl::Now();
  const absl::Time first_timestamp =
      FLAGS_start_us > 0 ? absl::FromUnixMicros(FLAGS_start_us) : start;
  const Usage before = ProcessUsage();
  const Result result = Stream(*stub, first_timestamp);
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const Usage after = ProcessUsage();
  const bool ok = result.status.ok() && result.sent == FLAGS_messages;
  std::fprintf(stderr, "grpc_baseline: sent %lld in %.3f s: %s\n",
               static_cast<long long>(result.sent), wall,
               ok ? "acknowledged" : result.status.error_message().c_str());
  const double n = static_cast<double>(result.sent);
  std::printf(
      "{\"ok\":%s,\"sent\":%lld,\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,\"cpu_ns_per_msg\":%.0f,"
      "\"peak_rss_kb\":%ld,\"bytes_per_msg\":%.1f,\"channels\":%d,\"batch\":%d}\n",
      ok ? "true" : "false", static_cast<long long>(result.sent), n / wall,
      result.bytes / wall / 1e6,
      n > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e9 / n : 0.0, after.peak_rss_kb,
      n > 0 ? result.bytes / n : 0.0, FLAGS_channels, FLAGS_batch);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream

int main(int argc, char** argv) {
  gflags::SetUsageMessage("The plainest fast gRPC client stream; JSON result on the last line");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::Run();
}
