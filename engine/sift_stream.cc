#include "engine/sift_stream.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <random>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/backup_dir.h"
#include "engine/metrics_http.h"
#include "engine/reactor.h"
#include "engine/stream_state.h"

namespace sift_stream {
namespace {

// 16 hex digits: the start time in milliseconds (11 digits last until the year 2527), then 20
// random bits. Leftover files of several dead processes thus recover in the order the
// processes ran; two streams on one directory cannot start in the same millisecond (the
// directory lock), and ids in different directories need not differ.
std::string NewStreamId() {
  std::random_device random;
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  return absl::StrFormat("%011x%05x", millis & ((uint64_t{1} << 44) - 1), random() & 0xfffff);
}

}  // namespace

SiftStreamBuilder& SiftStreamBuilder::Uri(std::string host_port) {
  uri_ = std::move(host_port);
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::ApiKey(std::string api_key) {
  api_key_ = std::move(api_key);
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Tls(bool tls) {
  tls_ = tls;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::IngestionConfig(IngestionConfigSpec config) {
  config_ = std::move(config);
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Run(RunSpec run) {
  run_ = std::move(run);
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Mode(StreamMode mode) {
  mode_ = mode;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Compress(Compression compression) {
  compression_ = compression;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Backups(DiskBackupPolicy policy) {
  backups_ = std::move(policy);
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::MemoryBackups(MemoryBackupPolicy policy) {
  memory_ = policy;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::Sync(SyncPolicy policy) {
  sync_ = policy;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::MaxMessageBytes(size_t bytes) {
  max_message_bytes_ = bytes;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::CheckpointInterval(absl::Duration interval) {
  checkpoint_interval_ = interval;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::AckTimeout(absl::Duration timeout) {
  ack_timeout_ = timeout;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::LiveRetry(RetryPolicy retry) {
  live_retry_ = retry;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::ReingestRetry(RetryPolicy retry) {
  reingest_retry_ = retry;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::ReingestRateLimit(double messages_per_second) {
  reingest_rate_limit_ = messages_per_second;
  return *this;
}
SiftStreamBuilder& SiftStreamBuilder::DataCapacity(size_t messages) {
  data_capacity_ = messages;
  return *this;
}

SiftStreamBuilder& SiftStreamBuilder::NoRetries() {
  no_retries_ = true;
  return *this;
}

SiftStreamBuilder& SiftStreamBuilder::ControlCapacity(size_t messages) {
  control_capacity_ = messages;
  return *this;
}

SiftStreamBuilder& SiftStreamBuilder::ExistingIngestionConfig(std::string ingestion_config_id) {
  existing_config_id_ = std::move(ingestion_config_id);
  return *this;
}

SiftStreamBuilder& SiftStreamBuilder::ServeMetrics(std::string host_port) {
  metrics_host_port_ = std::move(host_port);
  return *this;
}

SiftStreamBuilder& SiftStreamBuilder::AutoRegisterFlows(bool enabled) {
  auto_register_flows_ = enabled;
  return *this;
}

absl::StatusOr<std::unique_ptr<SiftStream>> SiftStreamBuilder::Build() {
  if (uri_.empty()) return absl::InvalidArgumentError("no Sift URI: call Uri(\"host:port\")");
  if (api_key_.empty()) return absl::InvalidArgumentError("no API key: call ApiKey(...)");
  if (reingest_rate_limit_ < 0) {
    return absl::InvalidArgumentError("ReingestRateLimit must be 0 (no cap) or positive");
  }
  if (max_message_bytes_ == 0) {
    return absl::InvalidArgumentError("MaxMessageBytes must be at least 1");
  }
  const bool in_memory = mode_ == StreamMode::kLiveWithMemoryBackups;
  if (memory_.has_value() && !in_memory) {
    return absl::InvalidArgumentError(
        "MemoryBackups() needs Mode(StreamMode::kLiveWithMemoryBackups)");
  }
  if (in_memory && no_retries_) {
    return absl::InvalidArgumentError(
        "NoRetries() keeps failed checkpoints in backup files for the caller, and memory "
        "backups have none: use Backups() with a backup_dir, or drop NoRetries()");
  }
  const MemoryBackupPolicy memory = memory_.value_or(MemoryBackupPolicy());
  // Framed, with a chunk header each: a ring that cannot hold two such messages would refuse
  // the largest one for ever, or take one and refuse everything else until it is acknowledged.
  if (in_memory && memory.max_bytes < 2 * (max_message_bytes_ + 16)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MemoryBackupPolicy.max_bytes (%d) must hold at least two messages of MaxMessageBytes "
        "(%d): raise it or lower MaxMessageBytes",
        memory.max_bytes, max_message_bytes_));
  }
  const bool on_disk = mode_ != StreamMode::kLiveOnly && !in_memory;
  if (on_disk && backups_.backup_dir.empty()) {
    return absl::InvalidArgumentError(
        "no backup directory: call Backups() with a backup_dir, or Mode(kLiveOnly) or "
        "Mode(kLiveWithMemoryBackups)");
  }
  engine::DiskBackupPolicy backups = backups_;
  const std::string stream_id = NewStreamId();
  // Checked and locked before any call to Sift: a wrong or busy directory is the error to
  // report, not an outage, and a second process must not register runs or flows first.
  int early_lock = -1;
  absl::Cleanup release_early_lock = [&early_lock] {
    if (early_lock >= 0) close(early_lock);
  };
  if (on_disk) {
    absl::StatusOr<std::string> absolute = engine::AbsoluteBackupDir(backups.backup_dir);
    if (!absolute.ok()) return absolute.status();
    backups.backup_dir = *std::move(absolute);
    absl::StatusOr<int> lock =
        engine::CheckAndLockBackupDir(backups.backup_dir, absl::StrCat(".", stream_id, ".probe"));
    if (!lock.ok()) return lock.status();
    early_lock = *lock;
  }
  // Listening first: a bad address or a port in use fails before any call to Sift.
  std::unique_ptr<engine::MetricsHttpServer> metrics_http;
  if (!metrics_host_port_.empty()) {
    auto started = engine::MetricsHttpServer::Start(
        metrics_host_port_,
        on_disk ? backups.backup_dir : "", in_memory);
    if (!started.ok()) return started.status();
    metrics_http = std::move(started).value();
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      tls_ ? grpc::SslCredentials(grpc::SslCredentialsOptions())
           : grpc::InsecureChannelCredentials();
  grpc::ChannelArguments channel_args;
  if (compression_ != Compression::kNone) {
    channel_args.SetCompressionAlgorithm(compression_ == Compression::kGzip ? GRPC_COMPRESS_GZIP
                                                                           : GRPC_COMPRESS_DEFLATE);
  }
  auto channel = grpc::CreateCustomChannel(uri_, credentials, channel_args);
  engine::SetupOptions setup_options;
  setup_options.api_key = api_key_;
  setup_options.retry = live_retry_;
  // Build() must end: an unreachable Sift is reported, not retried for ever.
  if (setup_options.retry.max_attempts <= 0) setup_options.retry.max_attempts = 6;
  setup_options.require_flows = !auto_register_flows_;
  absl::StatusOr<engine::SetupResult> setup;
  if (existing_config_id_.empty()) {
    setup = engine::RunSetupCalls(channel, config_, run_, setup_options);
    if (!setup.ok()) return setup.status();
  } else {
    setup = engine::SetupResult();
    setup->ingestion_config_id = existing_config_id_;
    setup->flows = config_.flows;
  }

  engine::ReactorConfig reactor;
  reactor.mode = mode_;
  reactor.live_channel = channel;
  reactor.reingest_channel = engine::CreateReingestionChannel(uri_, credentials, channel_args);
  reactor.api_key = api_key_;
  reactor.stream_id = stream_id;
  reactor.backups = backups;
  reactor.memory = memory;
  if (sync_.has_value()) reactor.backups.sync = *sync_;  // Whatever order Backups() came in.
  reactor.ingestion.checkpoint_interval = checkpoint_interval_;
  reactor.ingestion.ack_timeout = ack_timeout_;
  reactor.ingestion.retry = live_retry_;
  reactor.reingestion.ack_timeout = ack_timeout_;
  reactor.reingestion.retry = reingest_retry_;
  reactor.reingestion.max_messages_per_second = reingest_rate_limit_;
  reactor.data_capacity = data_capacity_;
  reactor.control_capacity = control_capacity_;
  reactor.no_retries = no_retries_;

  SiftStream::Calls calls{channel, setup_options, config_.client_key, config_.organization_id};
  std::unique_ptr<SiftStream> stream(new SiftStream(
      *setup, reactor.stream_id,
      engine::RequestBuilder(setup->ingestion_config_id, setup->run_id, setup->flows),
      max_message_bytes_, std::move(calls), auto_register_flows_));
  // The backup manager shares this lock (a dup of the descriptor); ours closes on return.
  reactor.backup_dir_lock_fd = early_lock;
  auto started = engine::Reactor::Start(std::move(reactor));
  if (!started.ok()) return started.status();
  stream->reactor_ = std::move(started).value();
  if (metrics_http != nullptr) {
    metrics_http->Attach(stream.get());
    stream->metrics_http_ = std::move(metrics_http);
  }
  return stream;
}

SiftStream::SiftStream(engine::SetupResult setup, std::string stream_id,
                       engine::RequestBuilder builder, size_t max_message_bytes, Calls calls,
                       bool auto_register_flows)
    : setup_(std::move(setup)),
      stream_id_(std::move(stream_id)),
      max_message_bytes_(max_message_bytes),
      calls_(std::move(calls)),
      auto_register_flows_(auto_register_flows),
      state_(std::make_unique<engine::StreamState>(std::move(builder))) {}

SiftStream::~SiftStream() {
  if (reactor_ != nullptr) (void)reactor_->Finish(absl::Seconds(5));
  metrics_http_.reset();  // Its requests read the reactor's metrics: stop them first.
}

absl::Status SiftStream::Send(absl::string_view flow, absl::Time timestamp,
                              absl::Span<const ChannelValue> values) {
  if (auto_register_flows_ && state_->ForThisThread().Find(flow) == nullptr) {
    absl::Status registered = RegisterInferred(engine::InferFlow(flow, values));
    if (!registered.ok()) return registered;
  }
  // A producer retrying a full queue should not pay for building what would be refused.
  if (absl::Status full = RefuseIfFull(); !full.ok()) return full;
  // One snapshot per message: its run id and flows are consistent with each other. Encoded
  // straight to wire bytes, as FlowWriter does: no protobuf object, no second pass.
  const engine::RequestBuilder& requests = state_->ForThisThread();
  thread_local std::string buffer;  // Recycled through the queue: no allocation once warm.
  if (absl::Status built = requests.Encode(flow, timestamp, values, &buffer); !built.ok()) {
    return built;
  }
  return EnqueueSerialized(buffer);
}

absl::Status SiftStream::Send(sift::ingest::v1::IngestWithConfigDataStreamRequest request) {
  // A request for another config is refused below; it must not register a flow here first.
  const bool ours = request.ingestion_config_id().empty() ||
                    request.ingestion_config_id() == setup_.ingestion_config_id;
  if (auto_register_flows_ && ours && state_->ForThisThread().Find(request.flow()) == nullptr) {
    absl::Status registered =
        RegisterInferred(engine::InferFlow(request.flow(), request.channel_values()));
    if (!registered.ok()) return registered;
  }
  if (absl::Status complete = state_->ForThisThread().Complete(&request); !complete.ok()) {
    return complete;
  }
  return Enqueue(request);
}

absl::Status SiftStream::TrySend(sift::ingest::v1::IngestWithConfigDataStreamRequest& request) {
  // No auto-registration here: registering is a call to Sift, and TrySend never waits.
  if (absl::Status complete = state_->ForThisThread().Complete(&request); !complete.ok()) {
    return complete;
  }
  thread_local std::string buffer;
  const size_t size = request.ByteSizeLong();
  if (size > max_message_bytes_) return TooLarge(size);
  buffer.resize(size);
  request.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(buffer.data()));
  return EnqueueSerialized(buffer, /*wait_for_lock=*/false);
}

absl::StatusOr<FlowWriter> SiftStream::Flow(absl::string_view flow) {
  const engine::StreamState::Snapshot state = state_->Load();
  const auto* config = state.builder->Find(flow);
  if (config == nullptr) {
    return absl::NotFoundError(engine::UnknownFlowMessage(flow));
  }
  return FlowWriter(this, *config, setup_.ingestion_config_id, state.builder->run_id(),
                    state.generation);
}

absl::Status SiftStream::EnqueueSerialized(std::string& bytes, bool wait_for_lock) {
  const size_t size = bytes.size();
  if (size > max_message_bytes_) return TooLarge(size);
  absl::Status pushed = wait_for_lock ? reactor_->Push(bytes) : reactor_->TryPush(bytes);
  if (!pushed.ok()) {
    if (absl::IsResourceExhausted(pushed)) refused_.fetch_add(1, std::memory_order_relaxed);
    return pushed;
  }
  sent_messages_.fetch_add(1, std::memory_order_relaxed);
  sent_bytes_.fetch_add(size, std::memory_order_relaxed);
  return absl::OkStatus();
}

// Serializes once; the same bytes go to the backup file and to the wire.
absl::Status SiftStream::Enqueue(const sift::ingest::v1::IngestWithConfigDataStreamRequest& request) {
  thread_local std::string buffer;
  const size_t size = request.ByteSizeLong();
  if (size > max_message_bytes_) return TooLarge(size);  // Before paying to serialize it.
  buffer.resize(size);
  request.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(buffer.data()));
  return EnqueueSerialized(buffer);
}

bool SiftStream::WaitForRoom(absl::Duration timeout) { return reactor_->WaitForRoom(timeout); }

absl::Status SiftStream::RefuseIfFull() {
  absl::Status full = reactor_->RefuseIfFull();
  if (!full.ok()) refused_.fetch_add(1, std::memory_order_relaxed);
  return full;
}

absl::Status SiftStream::TooLarge(size_t size) const {
  return absl::InvalidArgumentError(absl::StrFormat(
      "message of %d bytes is over the %d-byte limit (MaxMessageBytes; gRPC refuses larger "
      "messages by default): split it into several messages",
      size, max_message_bytes_));
}

absl::Status SiftStream::Flush(absl::Duration timeout) { return reactor_->Flush(timeout); }

absl::Status SiftStream::Finish(absl::Duration timeout) {
  finished_.store(true);
  return reactor_->Finish(timeout);
}

FinishReport SiftStream::FinishWithReport(absl::Duration timeout) {
  return reactor_->FinishWithReport(timeout);
}

std::vector<CheckpointOutcome> SiftStream::RecentCheckpoints() const {
  return reactor_->RecentCheckpoints();
}

std::string SiftStream::metrics_address() const {
  return metrics_http_ != nullptr ? metrics_http_->address() : std::string();
}

SiftStreamMetrics SiftStream::Metrics() const {
  SiftStreamMetrics metrics = reactor_->Metrics();
  metrics.messages_sent = sent_messages_.load();
  metrics.bytes_sent = sent_bytes_.load();
  metrics.messages_refused = refused_.load();
  return metrics;
}

}  // namespace sift_stream
