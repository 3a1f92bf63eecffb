// bench — streams N messages through a SiftStream and reports throughput and CPU per message.
//
// Contract (other checks rely on these flags and on the last stdout line):
//   bench --uri=HOST:PORT --api_key=K --messages=N --channels=C --backup_dir=D
//         [--retain_backups] [--no_backups] [--backups_only] [--checkpoint_interval_ms=T]
//         [--no_setup_calls] [--producers=P]
// Flow "bench" with C double channels; message i has timestamp start + i µs (unique).
// --no_setup_calls streams into a fixed config id without unary calls. Human progress goes to
// stderr; the last stdout line is one JSON object with at least sent, msgs_per_s,
// cpu_ns_per_msg, reingested, checkpoints, checkpoints_failed, dropped_live. Exit status 0
// only after Finish() returned OK.

#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/sift_stream.h"
#include "gflags/gflags.h"

DEFINE_string(uri, "127.0.0.1:50051", "Sift gRPC address, host:port");
DEFINE_string(api_key, "", "API key");
DEFINE_bool(tls, false, "use TLS (real Sift); plaintext for loopback servers");
DEFINE_int64(messages, 1000000, "messages to send");
DEFINE_int32(channels, 10, "double channels per message");
DEFINE_string(backup_dir, "/tmp", "backup directory");
DEFINE_bool(retain_backups, false, "keep backup files after acknowledged checkpoints");
DEFINE_bool(no_backups, false, "live only: no backup files");
DEFINE_bool(backups_only, false, "backup files only: nothing streamed");
DEFINE_int64(checkpoint_interval_ms, 10000, "checkpoint interval");
DEFINE_bool(no_setup_calls, false, "skip the set-up calls; stream into a fixed config id");
DEFINE_int32(producers, 1, "threads calling Send at once");
DEFINE_int64(finish_timeout_ms, 120000, "how long Finish may take");

namespace sift_stream {
namespace {

constexpr char kFixedConfigId[] = "00000000-0000-4000-8000-000000000bec";

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

IngestionConfigSpec BenchConfig() {
  IngestionConfigSpec config;
  config.asset_name = "bench";
  config.client_key = absl::StrCat("sift-stream-bench-", FLAGS_channels);
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("bench");
  for (int c = 0; c < FLAGS_channels; ++c) {
    auto* channel = flow.add_channels();
    channel->set_name(absl::StrCat("c", c));
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  }
  config.flows = {flow};
  return config;
}

// Sends messages [p, messages) stepping by producers; retries while the backup path is full.
absl::Status Produce(SiftStream& stream, int p, absl::Time start) {
  std::vector<ChannelValue> values(FLAGS_channels, ChannelValue::Double(0));
  for (int64_t i = p; i < FLAGS_messages; i += FLAGS_producers) {
    for (int c = 0; c < FLAGS_channels; ++c) values[c] = ChannelValue::Double(i * 0.001 + c);
    absl::Status s;
    while (absl::IsResourceExhausted(s = stream.Send("bench", start + absl::Microseconds(i),
                                                     values))) {
      std::this_thread::yield();
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

int Run() {
  if (FLAGS_no_backups && FLAGS_backups_only) {
    std::fprintf(stderr, "bench: --no_backups and --backups_only exclude each other\n");
    return 2;
  }
  DiskBackupPolicy backups;
  backups.backup_dir = FLAGS_backup_dir;
  backups.retain_backups = FLAGS_retain_backups;
  SiftStreamBuilder builder;
  builder.Uri(FLAGS_uri).ApiKey(FLAGS_api_key).Tls(FLAGS_tls).IngestionConfig(BenchConfig())
      .Backups(backups).CheckpointInterval(absl::Milliseconds(FLAGS_checkpoint_interval_ms))
      .Mode(FLAGS_no_backups       ? StreamMode::kLiveOnly
            : FLAGS_backups_only ? StreamMode::kBackupsOnly
                                 : StreamMode::kLiveWithBackups);
  if (FLAGS_no_setup_calls) builder.ExistingIngestionConfig(kFixedConfigId);
  auto stream = builder.Build();
  if (!stream.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(stream.status().message()).c_str());
    std::printf("{\"ok\":false,\"error\":\"build failed\"}\n");
    return 1;
  }
  const absl::Time start = absl::Now();
  const double cpu0 = CpuSeconds();
  std::vector<std::thread> producers;
  std::vector<absl::Status> results(FLAGS_producers);
  for (int p = 0; p < FLAGS_producers; ++p) {
    producers.emplace_back([&, p] { results[p] = Produce(**stream, p, start); });
  }
  for (auto& t : producers) t.join();
  const absl::Time sent_at = absl::Now();
  absl::Status finished = (*stream)->Finish(absl::Milliseconds(FLAGS_finish_timeout_ms));
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu0;
  const SiftStreamMetrics m = (*stream)->Metrics();
  for (const absl::Status& r : results) {
    if (!r.ok() && finished.ok()) finished = r;
  }
  std::fprintf(stderr, "bench: sent %llu in %.3f s (+%.3f s to finish): %s\n",
               static_cast<unsigned long long>(m.messages_sent),
               absl::ToDoubleSeconds(sent_at - start), absl::ToDoubleSeconds(absl::Now() - sent_at),
               finished.ok() ? "all confirmed" : std::string(finished.message()).c_str());
  const double n = static_cast<double>(m.messages_sent);
  std::printf(
      "{\"ok\":%s,\"sent\":%llu,\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,\"cpu_ns_per_msg\":%.0f,"
      "\"acknowledged\":%llu,\"reingested\":%llu,\"checkpoints\":%llu,"
      "\"checkpoints_failed\":%llu,\"dropped_live\":%llu,\"backed_up\":%llu,"
      "\"producers\":%d,\"channels\":%d}\n",
      finished.ok() ? "true" : "false", static_cast<unsigned long long>(m.messages_sent),
      n / wall, m.bytes_sent / wall / 1e6, n > 0 ? cpu * 1e9 / n : 0.0,
      static_cast<unsigned long long>(m.messages_acknowledged),
      static_cast<unsigned long long>(m.messages_reingested),
      static_cast<unsigned long long>(m.checkpoints_ok + m.checkpoints_failed),
      static_cast<unsigned long long>(m.checkpoints_failed),
      static_cast<unsigned long long>(m.messages_dropped_live),
      static_cast<unsigned long long>(m.messages_backed_up), FLAGS_producers, FLAGS_channels);
  return finished.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Stream N messages through SiftStream; JSON result on the last line");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::Run();
}
