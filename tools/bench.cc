// bench — streams N messages through a SiftStream and reports throughput and CPU per message.
//
// Contract (other checks rely on these flags and on the last stdout line):
//   bench --uri=HOST:PORT --api_key=K --messages=N --channels=C --backup_dir=D
//         [--retain_backups] [--no_backups] [--backups_only] [--checkpoint_interval_ms=T]
//         [--no_setup_calls] [--producers=P] [--start_us=S] [--flush_every=K]
//         [--progress_file=F] [--max_file_bytes=B]
// Flow "bench" with C double channels; message i has timestamp S + i µs (S: --start_us, or
// now). --flush_every=K calls Flush() after every K sends; each time it returns OK, F is
// atomically replaced (write, rename) by the number of messages it covers, as decimal text:
// messages 0..count-1 are then confirmed. A bench started on a backup_dir with leftover files
// recovers them (SiftStream's start-up recovery) before it exits 0.
// --max_file_bytes=B closes (rotates) a backup file once it holds B bytes (default 16 MiB,
// DiskBackupPolicy's default); small values make rotation frequent, e.g. for tools/kill_test.
// --no_setup_calls streams into a fixed config id without unary calls. Human progress goes to
// stderr; the last stdout line is one JSON object with at least sent, msgs_per_s,
// cpu_ns_per_msg, reingested, checkpoints, checkpoints_failed, dropped_live. Exit status 0
// only after Finish() returned OK.

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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
DEFINE_int64(start_us, 0, "timestamp of message 0 in µs since the epoch; 0: now");
DEFINE_int64(flush_every, 0, "call Flush() after every K sends (needs --producers=1)");
DEFINE_string(progress_file, "", "with --flush_every: rewritten with each confirmed count");
DEFINE_uint64(max_file_bytes, uint64_t{16} << 20,
              "backup file size at which a file is closed and the next one opened");
DEFINE_string(sync_policy, "on_flush",
              "when backups are fdatasync'ed: on_flush, interval:MS, bytes:N or never");

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

absl::StatusOr<SyncPolicy> ParseSyncPolicy(const std::string& text) {
  int64_t n = 0;
  if (text == "on_flush") return SyncPolicy::OnFlush();
  if (text == "never") return SyncPolicy::Never();
  if (absl::StartsWith(text, "interval:") && absl::SimpleAtoi(text.substr(9), &n) && n > 0) {
    return SyncPolicy::Every(absl::Milliseconds(n));
  }
  if (absl::StartsWith(text, "bytes:") && absl::SimpleAtoi(text.substr(6), &n) && n > 0) {
    return SyncPolicy::EveryBytes(n);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--sync_policy=", text, " is not one of on_flush, interval:MS, bytes:N, never"));
}

// Replaces `path` as a whole: a reader (even after this process is killed) sees the old count
// or the new one, never a torn write.
absl::Status WriteProgress(const std::string& path, int64_t count) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << count << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

struct FlushStats {
  int64_t flushes = 0;
  std::vector<double> latencies_us;
};

// Sends messages [p, messages) stepping by producers; retries while the backup path is full.
absl::Status Produce(SiftStream& stream, int p, absl::Time start, FlushStats* flushes) {
  std::vector<ChannelValue> values(FLAGS_channels, ChannelValue::Double(0));
  for (int64_t i = p; i < FLAGS_messages; i += FLAGS_producers) {
    for (int c = 0; c < FLAGS_channels; ++c) values[c] = ChannelValue::Double(i * 0.001 + c);
    absl::Status s;
    while (absl::IsResourceExhausted(s = stream.Send("bench", start + absl::Microseconds(i),
                                                     values))) {
      std::this_thread::yield();
    }
    if (!s.ok()) return s;
    if (FLAGS_flush_every > 0 && (i + 1) % FLAGS_flush_every == 0) {
      const absl::Time t0 = absl::Now();
      if (absl::Status f = stream.Flush(absl::Seconds(60)); !f.ok()) return f;
      flushes->latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
      ++flushes->flushes;
      if (!FLAGS_progress_file.empty()) {
        if (absl::Status w = WriteProgress(FLAGS_progress_file, i + 1); !w.ok()) return w;
      }
    }
  }
  return absl::OkStatus();
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * (values.size() - 1))];
}

int Run() {
  if (FLAGS_no_backups && FLAGS_backups_only) {
    std::fprintf(stderr, "bench: --no_backups and --backups_only exclude each other\n");
    return 2;
  }
  if (FLAGS_flush_every > 0 && FLAGS_producers != 1) {
    std::fprintf(stderr, "bench: --flush_every needs --producers=1 (counts must be a prefix)\n");
    return 2;
  }
  if (FLAGS_max_file_bytes == 0) {
    std::fprintf(stderr, "bench: --max_file_bytes must be positive\n");
    return 2;
  }
  absl::StatusOr<SyncPolicy> sync = ParseSyncPolicy(FLAGS_sync_policy);
  if (!sync.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(sync.status().message()).c_str());
    return 2;
  }
  DiskBackupPolicy backups;
  backups.sync = *sync;
  backups.backup_dir = FLAGS_backup_dir;
  backups.retain_backups = FLAGS_retain_backups;
  backups.max_file_size_bytes = FLAGS_max_file_bytes;
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
  const absl::Time first_timestamp =
      FLAGS_start_us > 0 ? absl::FromUnixMicros(FLAGS_start_us) : start;
  const double cpu0 = CpuSeconds();
  std::vector<std::thread> producers;
  std::vector<absl::Status> results(FLAGS_producers);
  FlushStats flushes;
  for (int p = 0; p < FLAGS_producers; ++p) {
    producers.emplace_back(
        [&, p] { results[p] = Produce(**stream, p, first_timestamp, &flushes); });
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
      "\"producers\":%d,\"channels\":%d,\"flushes\":%lld,\"flush_p50_us\":%.0f,"
      "\"flush_p99_us\":%.0f,\"durable\":%llu,\"recovered_files\":%llu,"
      "\"recovered_messages\":%llu,\"sync_policy\":\"%s\"}\n",
      finished.ok() ? "true" : "false", static_cast<unsigned long long>(m.messages_sent),
      n / wall, m.bytes_sent / wall / 1e6, n > 0 ? cpu * 1e9 / n : 0.0,
      static_cast<unsigned long long>(m.messages_acknowledged),
      static_cast<unsigned long long>(m.messages_reingested),
      static_cast<unsigned long long>(m.checkpoints_ok + m.checkpoints_failed),
      static_cast<unsigned long long>(m.checkpoints_failed),
      static_cast<unsigned long long>(m.messages_dropped_live),
      static_cast<unsigned long long>(m.messages_backed_up), FLAGS_producers, FLAGS_channels,
      static_cast<long long>(flushes.flushes), Percentile(flushes.latencies_us, 0.5),
      Percentile(flushes.latencies_us, 0.99),
      static_cast<unsigned long long>(m.messages_durable),
      static_cast<unsigned long long>(m.backup_files_recovered),
      static_cast<unsigned long long>(m.messages_recovered), FLAGS_sync_policy.c_str());
  return finished.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Stream N messages through SiftStream; JSON result on the last line");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::Run();
}
