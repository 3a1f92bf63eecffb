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
// Performance fields (issue #7; tools/bench_report reads them) are added to the same JSON
// line: cpu_ns_per_msg split into producer_cpu_ns_per_msg (the Send threads' own CPU clocks),
// reactor_cpu_ns_per_msg (SiftStreamMetrics::reactor_cpu_ns) and other_cpu_ns_per_msg (the
// rest: gRPC's threads, Build and Finish on the main thread); peak_rss_kb (VmHWM);
// send_p50_us, send_p99_us, send_p999_us over every --latency_sample_every-th Send (the time
// until Send accepted the message, waits for a full queue included); backup_mb_per_s,
// bytes_per_msg, send_s (until the last Send returned), wall_s (Finish included) and refused
// (Sends that found the queue full and were retried).
// --rate=R paces the producers to R messages/s in total (telemetry arrives at a rate; the
// outage plot needs the live path to have headroom). --flow_writer sends through a FlowWriter
// (SiftStream::Flow, the fast path) instead of Send(flow, timestamp, values), with the same
// messages. --progress_interval_ms=T prints one JSON line to stderr every T ms while it runs:
// {"progress":{"t_ms":..,"sent":..,"written_live":..,"acknowledged":..,"backed_up":..,
// "reingested":..,"send_queue_depth":..,"live_queue_depth":..,"live_streams_failed":..,
// "recovery_files_found":..,"recovery_files_recovered":..,"reingest_jobs_pending":..,
// "backup_rotations":..,"rss_kb":..}}.
// --memory_backups_mb=M streams live with memory backups of at most M MiB (no files; see
// SiftStreamBuilder::MemoryBackups) instead of backup files.
// --compression=gzip|deflate compresses each message on the wire (SiftStreamBuilder::Compress);
// the JSON line says which ("compression"). Channel c of message i holds i * 0.001 + c.

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
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
DEFINE_int64(memory_backups_mb, 0,
             "live stream with memory backups of at most this many MiB instead of files");
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
DEFINE_int32(latency_sample_every, 64,
             "time every Nth Send for the latency percentiles (few clock reads per message)");
DEFINE_int64(progress_interval_ms, 0, "print a JSON progress line to stderr every T ms; 0: off");
DEFINE_double(rate, 0, "messages per second over all producers; 0: as fast as Send allows");
DEFINE_string(compression, "none", "gRPC message compression: none, gzip or deflate");
DEFINE_bool(flow_writer, false, "producers send through SiftStream::Flow() (the FlowWriter)");

namespace sift_stream {
namespace {

constexpr char kFixedConfigId[] = "00000000-0000-4000-8000-000000000bec";

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The calling thread's own CPU time: producers read it when they finish, so the process's CPU
// can be split between them and the reactor.
uint64_t ThreadCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// A "Vm...:" line of /proc/self/status, in kB (0 if missing).
long ProcStatusKb(absl::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return 0;
}

// VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a bench spawned
// by a large process (kill_test, with the fake server's millions of keys) reported its
// parent's peak (463 MB) instead of its own (~22 MB).
long PeakRssKb() { return ProcStatusKb("VmHWM"); }

// VmRSS now (peak_rss_kb only ever grows; the progress lines show whether memory stays flat).
long CurrentRssKb() { return ProcStatusKb("VmRSS"); }

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

std::optional<Compression> ParseCompression(const std::string& text) {
  if (text == "none") return Compression::kNone;
  if (text == "gzip") return Compression::kGzip;
  if (text == "deflate") return Compression::kDeflate;
  return std::nullopt;
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

// What one producer thread measured about itself; each thread owns its own, so no locks.
struct ProducerStats {
  uint64_t cpu_ns = 0;
  std::vector<double> send_latencies_us;  // Every --latency_sample_every-th Send.
};

// Prints a progress line every --progress_interval_ms until Stop(); for throughput-over-time
// plots (tools/bench_report), so it reads only the published metrics and /proc.
class ProgressPrinter {
 public:
  ProgressPrinter(const SiftStream& stream, absl::Time start) : stream_(stream), start_(start) {
    if (FLAGS_progress_interval_ms > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressPrinter() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(FLAGS_progress_interval_ms),
                         [this] { return stop_; })) {
      Print();
    }
    Print();  // The final state, so a plot ends where the run did.
  }

  void Print() const {
    const SiftStreamMetrics m = stream_.Metrics();
    std::fprintf(stderr,
                 "{\"progress\":{\"t_ms\":%.0f,\"sent\":%llu,\"written_live\":%llu,"
                 "\"acknowledged\":%llu,\"backed_up\":%llu,\"reingested\":%llu,"
                 "\"send_queue_depth\":%llu,\"live_queue_depth\":%llu,"
                 "\"live_streams_failed\":%llu,\"recovery_files_found\":%llu,"
                 "\"recovery_files_recovered\":%llu,\"reingest_jobs_pending\":%llu,"
                 "\"backup_rotations\":%llu,\"rss_kb\":%ld}}\n",
                 absl::ToDoubleMilliseconds(absl::Now() - start_),
                 static_cast<unsigned long long>(m.messages_sent),
                 static_cast<unsigned long long>(m.messages_written_live),
                 static_cast<unsigned long long>(m.messages_acknowledged),
                 static_cast<unsigned long long>(m.messages_backed_up),
                 static_cast<unsigned long long>(m.messages_reingested),
                 static_cast<unsigned long long>(m.send_queue_depth),
                 static_cast<unsigned long long>(m.live_queue_depth),
                 static_cast<unsigned long long>(m.live_streams_failed),
                 static_cast<unsigned long long>(m.recovery_files_found),
                 static_cast<unsigned long long>(m.backup_files_recovered),
                 static_cast<unsigned long long>(m.reingest_jobs_pending),
                 static_cast<unsigned long long>(m.backup_rotations), CurrentRssKb());
  }

  const SiftStream& stream_;
  const absl::Time start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Message i through a FlowWriter: the values bench's Send path would carry. A refused Send
// clears the row, so every attempt sets it again.
absl::Status SendRow(FlowWriter& writer, absl::Time timestamp, int64_t i) {
  for (int c = 0; c < FLAGS_channels; ++c) writer.SetDouble(c, i * 0.001 + c);
  return writer.Send(timestamp);
}

// Sleeps until `sends` messages are due at `rate` per second since `start_ns`.
void Pace(int64_t start_ns, int64_t sends, double rate) {
  const int64_t due_ns = start_ns + static_cast<int64_t>(sends / rate * 1e9);
  const int64_t ahead_ns = due_ns - MonotonicNs();
  if (ahead_ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ahead_ns));
}

// Sends messages [p, messages) stepping by producers; retries while the backup path is full.
absl::Status Produce(SiftStream& stream, int p, absl::Time start, FlushStats* flushes,
                     ProducerStats* own) {
  std::vector<ChannelValue> values(FLAGS_channels, ChannelValue::Double(0));
  const int64_t sample_every = std::max(1, FLAGS_latency_sample_every);
  own->send_latencies_us.reserve(FLAGS_messages / FLAGS_producers / sample_every + 1);
  int64_t sends = 0;
  const int64_t start_ns = MonotonicNs();
  std::optional<FlowWriter> writer;
  if (FLAGS_flow_writer) {
    absl::StatusOr<FlowWriter> made = stream.Flow("bench");
    if (!made.ok()) return made.status();
    writer.emplace(*std::move(made));
  }
  for (int64_t i = p; i < FLAGS_messages; i += FLAGS_producers) {
    for (int c = 0; c < FLAGS_channels; ++c) values[c] = ChannelValue::Double(i * 0.001 + c);
    const bool timed = ++sends % sample_every == 0;
    if (FLAGS_rate > 0 && sends % 64 == 0) Pace(start_ns, sends, FLAGS_rate / FLAGS_producers);
    const int64_t send_started = timed ? MonotonicNs() : 0;
    absl::Status s;
    while (absl::IsResourceExhausted(s = writer.has_value()
                                             ? SendRow(*writer, start + absl::Microseconds(i), i)
                                             : stream.Send("bench", start + absl::Microseconds(i),
                                                           values))) {
      stream.WaitForRoom(absl::Milliseconds(100));  // What we tell users to do.
    }
    if (timed) own->send_latencies_us.push_back((MonotonicNs() - send_started) / 1e3);
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

// The issue #7 fields of the JSON line, each starting with a comma. CPU is split by thread:
// producers' clocks, the reactor's (published by the engine), and whatever is left.
std::string PerformanceJson(const SiftStreamMetrics& m, const std::vector<ProducerStats>& stats,
                            double n, double cpu_seconds, uint64_t reactor_cpu_ns, double wall,
                            double send_seconds) {
  uint64_t producer_cpu_ns = 0;
  std::vector<double> latencies;
  for (const ProducerStats& s : stats) {
    producer_cpu_ns += s.cpu_ns;
    latencies.insert(latencies.end(), s.send_latencies_us.begin(), s.send_latencies_us.end());
  }
  const double per = n > 0 ? 1 / n : 0;
  const double other_ns = cpu_seconds * 1e9 - static_cast<double>(producer_cpu_ns) -
                          static_cast<double>(reactor_cpu_ns);
  return absl::StrFormat(
      ",\"producer_cpu_ns_per_msg\":%.0f,\"reactor_cpu_ns_per_msg\":%.0f,"
      "\"other_cpu_ns_per_msg\":%.0f,\"peak_rss_kb\":%ld,\"send_p50_us\":%.2f,"
      "\"send_p99_us\":%.2f,\"send_p999_us\":%.2f,\"latency_samples\":%d,"
      "\"backup_mb_per_s\":%.1f,\"bytes_per_msg\":%.1f,\"send_s\":%.3f,\"wall_s\":%.3f,"
      "\"refused\":%llu",
      producer_cpu_ns * per, reactor_cpu_ns * per, other_ns * per, PeakRssKb(),
      Percentile(latencies, 0.5), Percentile(latencies, 0.99), Percentile(latencies, 0.999),
      static_cast<int>(latencies.size()), m.bytes_backed_up / wall / 1e6,
      n > 0 ? m.bytes_sent / n : 0.0, send_seconds, wall,
      static_cast<unsigned long long>(m.messages_refused));
}

int Run() {
  if (FLAGS_no_backups + FLAGS_backups_only + (FLAGS_memory_backups_mb > 0) > 1) {
    std::fprintf(stderr,
                 "bench: --no_backups, --backups_only and --memory_backups_mb exclude each "
                 "other\n");
    return 2;
  }
  if (FLAGS_memory_backups_mb < 0) {
    std::fprintf(stderr, "bench: --memory_backups_mb must not be negative\n");
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
  std::optional<Compression> compression = ParseCompression(FLAGS_compression);
  if (!compression.has_value()) {
    std::fprintf(stderr, "bench: --compression must be none, gzip or deflate, not \"%s\"\n",
                 FLAGS_compression.c_str());
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
      .Mode(FLAGS_no_backups               ? StreamMode::kLiveOnly
            : FLAGS_backups_only         ? StreamMode::kBackupsOnly
            : FLAGS_memory_backups_mb > 0 ? StreamMode::kLiveWithMemoryBackups
                                         : StreamMode::kLiveWithBackups)
      .Compress(*compression);
  if (FLAGS_memory_backups_mb > 0) {
    MemoryBackupPolicy memory;
    memory.max_bytes = static_cast<uint64_t>(FLAGS_memory_backups_mb) << 20;
    builder.MemoryBackups(memory);
  }
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
  const uint64_t reactor_cpu0 = (*stream)->Metrics().reactor_cpu_ns;
  ProgressPrinter progress(**stream, start);
  std::vector<std::thread> producers;
  std::vector<absl::Status> results(FLAGS_producers);
  std::vector<ProducerStats> producer_stats(FLAGS_producers);
  FlushStats flushes;
  for (int p = 0; p < FLAGS_producers; ++p) {
    producers.emplace_back([&, p] {
      results[p] = Produce(**stream, p, first_timestamp, &flushes, &producer_stats[p]);
      producer_stats[p].cpu_ns = ThreadCpuNs();  // The thread did nothing but produce.
    });
  }
  for (auto& t : producers) t.join();
  const absl::Time sent_at = absl::Now();
  absl::Status finished = (*stream)->Finish(absl::Milliseconds(FLAGS_finish_timeout_ms));
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu0;
  const SiftStreamMetrics m = (*stream)->Metrics();
  progress.Stop();
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
      "\"recovered_messages\":%llu,\"sync_policy\":\"%s\",\"compression\":\"%s\"%s}\n",
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
      static_cast<unsigned long long>(m.messages_recovered), FLAGS_sync_policy.c_str(),
      FLAGS_compression.c_str(),
      PerformanceJson(m, producer_stats, n, cpu, m.reactor_cpu_ns - reactor_cpu0, wall,
                      absl::ToDoubleSeconds(sent_at - start))
          .c_str());
  return finished.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Stream N messages through SiftStream; JSON result on the last line");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::Run();
}
