// engine/sift_stream.h — stream telemetry to Sift without losing a data point.
//
// A SiftStream sends every message two ways at once: on a live gRPC stream to Sift, and into
// O_DIRECT backup files on local disk (PBFS, the format of Sift's own clients). The stream is
// cut into checkpoints; when Sift acknowledges a checkpoint's stream, that checkpoint's backup
// files are deleted (or kept, with retain_backups); when it does not — the stream failed, the
// acknowledgement timed out, or messages had to be dropped from a full live queue — the files
// are re-ingested on a separate connection, with backoff, until Sift acknowledges them.
// Hosts without a writable disk use Mode(StreamMode::kLiveWithMemoryBackups): the same, with
// each checkpoint's messages held in a bounded memory ring (MemoryBackups()) instead of files;
// nothing then survives the process.
//
//   engine::IngestionConfigSpec config;
//   config.asset_name = "rover-7";
//   config.client_key = "rover-7-telemetry-v1";
//   config.flows = {ImuFlow(), GpsFlow()};
//   DiskBackupPolicy backups;
//   backups.backup_dir = "/var/lib/rover/sift";
//   auto stream = SiftStreamBuilder()
//                     .Uri("api.siftstack.com:443").ApiKey(key).Tls(true)
//                     .IngestionConfig(config)
//                     .Backups(backups)
//                     .Build();
//   if (!stream.ok()) return stream.status();
//   (*stream)->Send("imu", absl::Now(), {ChannelValue::Double(ax), ChannelValue::Double(ay)});
//   absl::Status unconfirmed = (*stream)->Finish(absl::Seconds(30));
//
// Threads: Send() and TrySend() may be called from any number of threads at once; every call
// must have returned before the stream is destroyed. AttachRun(), DetachRun() and AddFlows()
// too, from any thread, while others Send (see "Changing course" below). One reactor thread,
// owned by the stream, does all the I/O (io_uring for the disk, a gRPC completion queue for the
// network). Metrics() may be called from any thread. With ServeMetrics(), an embedded HTTP
// server (CivetWeb, its own threads) serves /metrics (Prometheus) and /status (a page for
// people) from Metrics(); see docs/operations.md.
//
// Logging: glog (leveled; --v=1 logs every checkpoint's outcome). Calling
// google::InitGoogleLogging is up to the program; without it glog writes to stderr.
//
// Errors: Send() says InvalidArgument for a message that does not fit its flow or is larger
// than MaxMessageBytes() (nothing is sent); ResourceExhausted when the backup path cannot
// take more right now — the queue is full, or the backup disk is, and the message says which
// (nothing is taken; retry; a full disk is retried by the stream itself and writing resumes
// when space comes back); FailedPrecondition after Finish() or once the backup disk has
// failed for good, e.g. EIO (saying why). With memory backups, ResourceExhausted says the
// memory backup is full: it holds MemoryBackupPolicy::max_bytes that Sift has not
// acknowledged (retry; room comes back as Sift acknowledges). Finish() says DataLoss, with
// the count, when some message Send() accepted is neither durable on disk nor acknowledged
// by Sift (the backup disk failed, or stayed full past Finish's deadline; with memory
// backups, whatever Sift had not acknowledged by the deadline). Build() fails with what the
// set-up calls or the backup directory said.
// TrySend() refuses as Send() does but never waits and never takes the caller's request;
// FinishWithReport() says, beside Finish's status, which messages Sift acknowledged and which
// only the kept backup files hold (with NoRetries(), failed checkpoints are left there rather
// than re-ingested).
//
// Changing course while streaming: AttachRun() puts the stream into a run (a new one, or one
// found by client_key or id), DetachRun() takes it out, and AddFlows() registers more flows,
// each with a blocking call to Sift on the caller's thread. The run id travels in every
// message (IngestWithConfigDataStreamRequest.run_id), so it is written into the backup files
// with the message, and a message re-ingested from disk after a failure keeps the run it was
// sent in. A change takes effect at a message boundary, per calling thread: every message a
// Send() (or FlowWriter::Send) accepts that starts after the change returned carries the new
// run; every message accepted before the change was called carries the old one; a Send racing
// with the change, on another thread, carries one or the other, whole.
//
//   RunSpec drive;
//   drive.kind = RunSpec::Kind::kNew;  // Or kByClientKey (found, else created), or kById.
//   drive.name = "drive 12";
//   absl::StatusOr<std::string> run = stream->AttachRun(drive);
//   stream->Send("imu", ...);                      // carries *run
//   stream->AddFlows({BatteryFlow()});             // now Send("battery", ...) works
//   stream->DetachRun();                           // later messages carry no run

#ifndef SIFT_STREAM_ENGINE_SIFT_STREAM_H_
#define SIFT_STREAM_ENGINE_SIFT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/backup_manager.h"
#include "engine/finish_report.h"
#include "engine/flow_writer.h"
#include "engine/memory_backup.h"
#include "engine/ingestion_task.h"
#include "engine/request_builder.h"
#include "engine/setup_calls.h"
#include "proto/sift/ingest/v1/ingest.pb.h"

namespace sift_stream {

using engine::ChannelValue;
using engine::CheckpointOutcome;
using engine::DiskBackupPolicy;
using engine::IngestionConfigSpec;
using engine::MemoryBackupPolicy;
using engine::RetryPolicy;
using engine::RunSpec;
using engine::SyncPolicy;

// gRPC's message compression for everything the stream sends Sift (live stream, re-ingestion,
// set-up calls): fewer bytes on thin links for some CPU per message (docs/configuration.md).
enum class Compression {
  kNone,  // The default.
  kGzip,
  kDeflate,
};

enum class StreamMode {
  kLiveWithBackups,  // The default: live stream, backups, re-ingestion.
  kLiveOnly,         // No backups: a failed checkpoint's messages are lost (and counted).
  kBackupsOnly,      // Files written and kept, nothing streamed; re-ingest them later.
  // For hosts without a writable disk: live stream, with each checkpoint's messages held in
  // a bounded memory ring (SiftStreamBuilder::MemoryBackups) until Sift acknowledges them,
  // and re-ingested from there when it does not. Nothing survives the process.
  kLiveWithMemoryBackups,
};

struct SiftStreamMetrics {
  uint64_t messages_sent = 0;          // Accepted by Send().
  uint64_t bytes_sent = 0;             // Serialized bytes accepted by Send().
  uint64_t messages_refused = 0;       // Send() or TrySend() returned ResourceExhausted.
  uint64_t messages_written_live = 0;  // Handed to the live gRPC stream.
  uint64_t messages_acknowledged = 0;  // On live streams Sift acknowledged.
  uint64_t messages_dropped_live = 0;  // Dropped from the full live queue (kept on disk).
  uint64_t messages_backed_up = 0;
  uint64_t bytes_backed_up = 0;
  uint64_t messages_durable = 0;       // Backed up and synced (see SyncPolicy), in send order.
  uint64_t messages_reingested = 0;    // Acknowledged by Sift on re-ingestion streams.
  // Start-up recovery: backup files an earlier process left in backup_dir, and how many of
  // them (and their messages) Sift has acknowledged since; included in messages_reingested.
  uint64_t recovery_files_found = 0;
  uint64_t backup_files_recovered = 0;
  uint64_t messages_recovered = 0;
  uint64_t checkpoints_ok = 0;
  uint64_t checkpoints_failed = 0;
  absl::Duration last_checkpoint_duration = absl::ZeroDuration();
  uint64_t live_streams_failed = 0;
  uint64_t ack_timeouts = 0;
  uint64_t retries = 0;
  absl::Duration current_backoff = absl::ZeroDuration();
  uint64_t reingest_jobs_done = 0;
  uint64_t reingest_jobs_failed = 0;
  // Re-ingestion jobs queued or in progress now (failed checkpoints, recovery batches).
  uint64_t reingest_jobs_pending = 0;
  uint64_t backup_files_created = 0;
  uint64_t backup_files_deleted = 0;
  uint64_t backup_rotations = 0;
  // Backup files written through the page cache because backup_dir refuses O_DIRECT (ramfs,
  // some overlays; said once on stderr too).
  uint64_t backup_files_buffered = 0;
  // The backup disk is full right now: Send refuses (ResourceExhausted, saying so), the
  // messages already taken wait in memory, and writing resumes when space comes back.
  bool backup_disk_full = false;
  uint64_t backup_disk_full_stalls = 0;  // Times the disk was found full.
  // Memory backups (kLiveWithMemoryBackups; messages_backed_up and bytes_backed_up count what
  // went into memory): what is held now for checkpoints Sift has not acknowledged (back to
  // 0 once it has), whether Send refuses because the ring is full, how often it filled, and
  // messages lost: dropped before Sift acknowledged them (re-ingestion gave up, or a
  // deadline ran out).
  uint64_t memory_backup_bytes = 0;
  uint64_t memory_backup_messages = 0;
  bool memory_backup_full = false;
  uint64_t memory_backup_full_stalls = 0;
  uint64_t memory_backup_messages_lost = 0;
  uint64_t send_queue_depth = 0;
  uint64_t live_queue_depth = 0;
  uint64_t errors = 0;  // ErrorSignals raised (see last_error).
  // CPU time the reactor thread has used (CLOCK_THREAD_CPUTIME_ID), so a benchmark can tell
  // the reactor's cost per message from the producers' (it includes gRPC's socket work,
  // which runs inside the reactor's polls).
  uint64_t reactor_cpu_ns = 0;
  std::string last_error;
};

class SiftStream;

class SiftStreamBuilder {
 public:
  // "host:port" of Sift's gRPC API.
  SiftStreamBuilder& Uri(std::string host_port);
  SiftStreamBuilder& ApiKey(std::string api_key);
  // Real Sift needs TLS; a loopback test server (testing/fake_sift.h) does not.
  SiftStreamBuilder& Tls(bool tls);
  SiftStreamBuilder& IngestionConfig(IngestionConfigSpec config);
  SiftStreamBuilder& Run(RunSpec run);
  SiftStreamBuilder& Mode(StreamMode mode);
  // Compresses each message on the wire (gRPC call compression, which Sift accepts); kNone by
  // default. What it costs and saves, measured: docs/configuration.md.
  SiftStreamBuilder& Compress(Compression compression);
  // Start-up recovery: files an earlier process left in policy.backup_dir (it crashed, or its
  // Finish ran out of time) are re-ingested in the background, then deleted (or kept, with
  // retain_backups); Metrics() counts them and Finish() waits for them. The directory is
  // locked: a second live stream on it fails to Build with FailedPrecondition.
  SiftStreamBuilder& Backups(DiskBackupPolicy policy);
  // With Mode(kLiveWithMemoryBackups): how much the memory ring may hold (default 64 MiB of
  // PBFS bytes; see engine/memory_backup.h) and when a checkpoint is ended early to free it
  // sooner. Build() fails with InvalidArgument if it is called with another mode, or if
  // max_bytes cannot hold two messages of MaxMessageBytes(). Backups() is ignored then.
  //
  //   auto stream = SiftStreamBuilder().Uri(uri).ApiKey(key).IngestionConfig(config)
  //                     .Mode(StreamMode::kLiveWithMemoryBackups)
  //                     .MemoryBackups({/*max_bytes=*/256 << 20})
  //                     .Build();
  SiftStreamBuilder& MemoryBackups(MemoryBackupPolicy policy);
  // When backup files are fdatasync'ed (overrides Backups().sync, whichever is called first);
  // SyncPolicy::OnFlush() by default.
  SiftStreamBuilder& Sync(SyncPolicy policy);
  // Serialized size above which Send() refuses a message with InvalidArgument (it could never
  // be streamed). Default 4 MiB, gRPC's default receive limit, less room for framing.
  SiftStreamBuilder& MaxMessageBytes(size_t bytes);
  SiftStreamBuilder& CheckpointInterval(absl::Duration interval);
  SiftStreamBuilder& AckTimeout(absl::Duration timeout);
  SiftStreamBuilder& LiveRetry(RetryPolicy retry);
  SiftStreamBuilder& ReingestRetry(RetryPolicy retry);
  // Caps re-ingestion (and start-up recovery) at this many messages per second, so that a
  // backlog catching up after an outage does not swamp a thin link; 0 (the default): no cap.
  // Re-ingestion always runs on a connection of its own, so it never queues ahead of live data.
  SiftStreamBuilder& ReingestRateLimit(double messages_per_second);
  // Messages waiting for the backup writer (Send fails beyond it) and in the live queue
  // (the oldest is dropped beyond it); the seed's default is 10,240 for both.
  SiftStreamBuilder& DataCapacity(size_t messages);
  // For callers who keep their own durability books: a checkpoint Sift did not acknowledge
  // is NOT re-ingested; its backup files stay in backup_dir (deleted only once acknowledged,
  // as always) and FinishWithReport() names them with their message counts. Start-up recovery
  // does not run either: files earlier processes left stay as they are. Live streams still
  // start one per checkpoint (with LiveRetry's backoff after a failure); no message is ever
  // sent twice by the stream. No effect in live-only or backups-only mode.
  SiftStreamBuilder& NoRetries();
  // Undelivered control messages the tasks may have queued (default 1,024, as the seed's);
  // exceeding it is a bug in a task and stops the process with a message.
  SiftStreamBuilder& ControlCapacity(size_t messages);
  // Skips the set-up calls and streams into this existing ingestion config, whose flows must
  // be exactly those of IngestionConfig() (for benchmarks and hosts that cannot make the
  // calls; a mismatch shows up only as invalid data at Sift).
  SiftStreamBuilder& ExistingIngestionConfig(std::string ingestion_config_id);
  // Serves /metrics (Prometheus text format) and /status (an HTML page that refreshes itself)
  // over HTTP on "ip:port", e.g. "127.0.0.1:9464" ("localhost" means 127.0.0.1; port 0 picks
  // a free port, see SiftStream::metrics_address()). Empty, the default: no server. Build()
  // fails with InvalidArgument on a malformed address, Unavailable when it cannot listen
  // (port in use). Nothing served needs or shows the API key.
  SiftStreamBuilder& ServeMetrics(std::string host_port);
  // Off by default: Send() refuses a flow the stream does not know with InvalidArgument. On:
  // the first Send() of an unknown flow registers it (CreateIngestionConfigFlows, blocking
  // that Send for the call), shaped by that message: one channel per value, named
  // "channel_0", "channel_1", ..., each of its value's type. Later messages must fit that
  // shape like any other flow's (InvalidArgument otherwise); a first message with an empty
  // value cannot be registered (InvalidArgument), and neither can one whose name the server
  // already has with other channels (FailedPrecondition). Enum and bit field channels get no
  // enum names or bit field elements: declare those flows (IngestionConfig, AddFlows). With
  // it, IngestionConfig() may declare no flows at all. Flow() does not register (a writer has
  // no values to infer from). Registrations wait for one another and for a concurrent
  // AttachRun/AddFlows (one change at a time); Sends of known flows never wait for them.
  SiftStreamBuilder& AutoRegisterFlows(bool enabled);

  // Makes the set-up calls (config, flows, run), checks the backup directory, starts the
  // reactor thread.
  absl::StatusOr<std::unique_ptr<SiftStream>> Build();

 private:
  friend class SiftStream;
  std::string uri_;
  std::string api_key_;
  bool tls_ = true;
  IngestionConfigSpec config_;
  RunSpec run_;
  StreamMode mode_ = StreamMode::kLiveWithBackups;
  Compression compression_ = Compression::kNone;
  DiskBackupPolicy backups_;
  std::optional<MemoryBackupPolicy> memory_;
  absl::Duration checkpoint_interval_ = absl::Seconds(60);
  absl::Duration ack_timeout_ = absl::Seconds(30);
  RetryPolicy live_retry_;
  RetryPolicy reingest_retry_;
  double reingest_rate_limit_ = 0;
  size_t data_capacity_ = 10240;
  size_t control_capacity_ = 1024;
  bool no_retries_ = false;
  size_t max_message_bytes_ = (4 << 20) - 1024;
  std::optional<SyncPolicy> sync_;
  std::string existing_config_id_;
  std::string metrics_host_port_;
  bool auto_register_flows_ = false;
};

namespace engine {
class Reactor;
class MetricsHttpServer;
class StreamState;
}

class SiftStream {
 public:
  // Flushes what it can in a few seconds, like Finish(absl::Seconds(5)); whatever Sift did
  // not confirm stays in the backup files (with memory backups: is lost).
  ~SiftStream();

  absl::Status Send(absl::string_view flow, absl::Time timestamp,
                    absl::Span<const ChannelValue> values);
  // A request built by the caller; ingestion_config_id and run_id are filled in when empty
  // (the run id current when the call starts; none after DetachRun).
  absl::Status Send(sift::ingest::v1::IngestWithConfigDataStreamRequest request);

  // Send() for a producer that must never wait and must keep what was refused (a control
  // loop, an interrupt-driven reader). It never waits: where Send() would wait for the
  // queue's lock (microseconds, while another thread holds it) TrySend spins on it for at most
  // 50 µs and refuses instead (it never sleeps); it does no I/O but the eventfd write that wakes the reactor.
  // `request` is never taken: on OK its serialized bytes were queued and the object is the
  // caller's to reuse or drop; on any error it is exactly as it was (apart from
  // ingestion_config_id and run_id, filled in when empty), so the same object can be sent
  // again later, with TrySend or Send, at no cost of a copy. Errors are Send()'s:
  // ResourceExhausted when the backup queue is full, busy, or waiting on a full backup disk
  // (nothing taken, counted in messages_refused; retry later), InvalidArgument,
  // FailedPrecondition after Finish().
  //
  //   // backlog: the caller's std::deque<IngestWithConfigDataStreamRequest>, oldest first.
  //   backlog.push_back(std::move(request));  // A protobuf move: no copy.
  //   absl::Status s;
  //   while (!backlog.empty() && (s = stream->TrySend(backlog.front())).ok()) {
  //     backlog.pop_front();
  //   }
  //   // ResourceExhausted: backlog.front() waits for the next turn. Anything else is final.
  absl::Status TrySend(sift::ingest::v1::IngestWithConfigDataStreamRequest& request);

  // For a producer whose Send() was refused with ResourceExhausted: blocks until the send
  // queue has room again (it is at most half full), the stream stops taking messages, or
  // `timeout` passes; true when there is room. Waiting here costs no CPU, where retrying at
  // once spins — on a small host, on the core the reactor needs to make room. With a full
  // memory backup it waits at most a millisecond (room comes with Sift's acknowledgements).
  // Any thread.
  //
  //   absl::Status s;
  //   while (absl::IsResourceExhausted(s = stream->Send(flow, t, values))) {
  //     stream->WaitForRoom(absl::Milliseconds(100));
  //   }
  bool WaitForRoom(absl::Duration timeout);

  // A writer for `flow` that does the flow lookup and shape checks once and encodes each
  // message directly (engine/flow_writer.h): the fast path for high-rate producers. It stamps
  // the run current at each of its Send()s, as Send() does. NotFound for a flow the stream
  // does not know (declared in the ingestion config or added with AddFlows).
  absl::StatusOr<FlowWriter> Flow(absl::string_view flow);

  // Puts every message sent from now on into run `run` — created (RunSpec::Kind::kNew), found
  // by client_key or else created (kByClientKey), or checked to exist (kById) — and returns
  // its id; see "Changing course" in the file comment for which messages carry it. Replaces
  // the run Build() or an earlier AttachRun() set. Blocks for the calls to Sift (retried like
  // Build's). Errors: InvalidArgument for kNone (use DetachRun) or a spec missing its id or
  // client_key; FailedPrecondition after Finish(); what Sift said (e.g. NotFound for an
  // unknown id), and then the stream keeps its run.
  absl::StatusOr<std::string> AttachRun(RunSpec run);

  // Messages sent from now on carry no run. FailedPrecondition after Finish().
  absl::Status DetachRun();

  // Registers `flows` with the stream's ingestion config (CreateIngestionConfigFlows, for the
  // ones Sift lacks), after which Send() and Flow() take them. Blocks for the calls; all or
  // nothing. A flow the stream already knows with the same channels is accepted and skipped.
  // Errors: InvalidArgument for a flow without a name or channels, a channel without a name
  // or data type, or a name given twice in `flows`; FailedPrecondition for a name the stream
  // or Sift already has with other channels (flows are immutable: give the new layout a new
  // name), or after Finish(); otherwise what Sift said.
  absl::Status AddFlows(std::vector<sift::ingestion_configs::v2::FlowConfig> flows);

  // Returns OK once every message Send() accepted before the call is either durable on disk
  // (written and fdatasync'ed, file and directory entry: see SyncPolicy) or, in live-only
  // mode and with memory backups, where nothing is durable, acknowledged by Sift, live or on
  // re-ingestion (Flush ends the open checkpoint to get there). A message Flush
  // confirmed survives whatever happens to the process next: it is acknowledged, or start-up
  // recovery finds it. Errors: DeadlineExceeded after `timeout` (nothing is lost, the
  // messages are just not confirmed yet); DataLoss once the backup disk failed, or in
  // live-only mode once Sift failed to acknowledge a checkpoint, or with memory backups once
  // re-ingestion gave up on one (ReingestRetry max_attempts); FailedPrecondition if the
  // stream stopped first. ("Recovery finds it" needs the next stream on the directory to
  // stream: a backups-only stream leaves leftovers where they are.) Any thread; concurrent
  // calls are answered independently.
  absl::Status Flush(absl::Duration timeout);

  // Stops taking messages, streams what is queued, ends the last checkpoint, waits for
  // re-ingestion — all within `timeout`. OK when Sift acknowledged everything (or, in
  // backups-only mode, when every file is closed and clean). Otherwise Unavailable naming the
  // backup files that hold unconfirmed data (they are kept), or DataLoss in live-only mode,
  // or, with memory backups, DataLoss starting with the count of messages Sift never
  // acknowledged (memory dies with the stream; Metrics().memory_backup_messages_lost).
  // Calling it again returns the first result.
  absl::Status Finish(absl::Duration timeout);

  // Finish(), and what it can prove (engine/finish_report.h): report.status is what Finish
  // returns; messages_acknowledged counts the messages Sift acknowledged (live and
  // re-ingested, each once); `kept` names each checkpoint Sift did not acknowledge whole,
  // with its backup files and how many of its messages they hold; messages_unprotected
  // counts those neither acknowledged nor on disk. The counts come from acknowledgements and
  // the durable prefix on disk, never from inference, so the report may claim less than
  // happened but never more. With NoRetries() it is the whole story of the stream. Calling
  // it (or Finish) again returns the first report.
  //
  //   FinishReport report = stream->FinishWithReport(absl::Seconds(30));
  //   books.MarkAcknowledged(report.messages_acknowledged);
  //   for (const KeptCheckpoint& kept : report.kept) {
  //     books.OnDiskOnly(kept.files, kept.messages_on_disk);  // Re-send them when you choose.
  //   }
  FinishReport FinishWithReport(absl::Duration timeout);

  SiftStreamMetrics Metrics() const;

  // The last few live checkpoints that streamed messages or failed, oldest first (at most
  // 20): what /status shows. Any thread.
  std::vector<CheckpointOutcome> RecentCheckpoints() const;

  // "host:port" the metrics server listens on (the real port when ServeMetrics asked for 0);
  // empty without ServeMetrics.
  std::string metrics_address() const;

  const std::string& ingestion_config_id() const { return setup_.ingestion_config_id; }
  // The run messages sent now carry (empty: none); changes with AttachRun and DetachRun.
  std::string run_id() const;
  // The flows the stream takes now: declared, added and auto-registered, in that order.
  std::vector<sift::ingestion_configs::v2::FlowConfig> flows() const;
  // Names this stream's backup files: "<stream_id>-<checkpoint>-<file>.pbfs".
  const std::string& stream_id() const { return stream_id_; }

 private:
  friend class SiftStreamBuilder;
  // What AttachRun and AddFlows need to call Sift again after Build.
  struct Calls {
    std::shared_ptr<grpc::Channel> channel;
    engine::SetupOptions options;
    std::string client_key;
    std::string organization_id;
  };
  SiftStream(engine::SetupResult setup, std::string stream_id, engine::RequestBuilder builder,
             size_t max_message_bytes, Calls calls, bool auto_register_flows);
  absl::Status Enqueue(const sift::ingest::v1::IngestWithConfigDataStreamRequest& request);
  // Takes serialized request bytes (leaving `bytes` holding a recycled buffer on success).
  friend class FlowWriter;
  // `wait_for_lock` false: TrySend's never-waiting push (MessageQueue::TryPush).
  absl::Status EnqueueSerialized(std::string& bytes, bool wait_for_lock = true);
  absl::Status TooLarge(size_t size) const;
  // Reactor::RefuseIfFull, counted in messages_refused.
  absl::Status RefuseIfFull();
  // For FlowWriter: the state generation, cheap, and the run id with its generation.
  uint64_t state_generation() const;
  std::string CurrentRunId(uint64_t* generation) const;
  // AddFlows with changes_mu_ held and `flows` validated.
  absl::Status AddFlowsLocked(const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows);
  // AutoRegisterFlows: registers `inferred` unless the stream knows its name by now.
  absl::Status RegisterInferred(
      absl::StatusOr<sift::ingestion_configs::v2::FlowConfig> inferred);
  absl::Status RefuseIfFinished() const;

  engine::SetupResult setup_;  // Its run_id and flows are Build's; state_ has the current ones.
  std::string stream_id_;
  const size_t max_message_bytes_;
  const Calls calls_;
  const bool auto_register_flows_;
  // Serializes AttachRun, DetachRun and AddFlows (held across their calls to Sift), so that
  // each reads, changes and publishes state_ without losing another's change. Never taken by
  // Send, except to auto-register a flow.
  std::mutex changes_mu_;
  std::unique_ptr<engine::StreamState> state_;
  std::atomic<bool> finished_{false};
  std::unique_ptr<engine::Reactor> reactor_;
  // Reads through Metrics(): stopped (in ~SiftStream) before the reactor goes.
  std::unique_ptr<engine::MetricsHttpServer> metrics_http_;
  std::atomic<uint64_t> sent_messages_{0};
  std::atomic<uint64_t> sent_bytes_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace sift_stream

#endif  // SIFT_STREAM_ENGINE_SIFT_STREAM_H_
