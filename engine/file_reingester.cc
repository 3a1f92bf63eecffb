#include "engine/file_reingester.h"

#include <fcntl.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/completion_queue_poller.h"
#include "engine/control_message.h"
#include "engine/reingestion_task.h"
#include "io/pbfs_format.h"
#include "io/ring.h"

namespace sift_stream::engine {

absl::string_view FileOutcomeName(FileOutcome outcome) {
  switch (outcome) {
    case FileOutcome::kReingested:
      return "re-ingested";
    case FileOutcome::kDamaged:
      return "damaged";
    case FileOutcome::kUnreadable:
      return "unreadable";
    case FileOutcome::kFailed:
      return "failed";
  }
  return "?";
}

namespace {


}  // namespace


namespace {

// The loop never sleeps longer than this, so progress and the deadline are noticed promptly.
constexpr absl::Duration kMaxTurnWait = absl::Milliseconds(50);
// How long a clean shutdown may take before the stream in flight is cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

// The task's counters that change when one job ends; a file's outcome is their difference.
struct Counters {
  uint64_t done = 0;
  uint64_t failed = 0;  // Given up, refused or abandoned.
  uint64_t damaged = 0;
  uint64_t unreadable = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t deleted = 0;

  static Counters Of(const ReingestionMetrics& m) {
    return Counters{m.jobs_done,      m.jobs_failed + m.jobs_abandoned,
                    m.damaged_files,  m.unreadable_files,
                    m.messages_reingested, m.bytes_reingested,
                    m.files_deleted};
  }
  Counters Minus(const Counters& before) const {
    return Counters{done - before.done,         failed - before.failed,
                    damaged - before.damaged,   unreadable - before.unreadable,
                    messages - before.messages, bytes - before.bytes,
                    deleted - before.deleted};
  }
};

FileOutcome Classify(const Counters& delta) {
  // Nothing of an unreadable file could be sent, whatever became of its (empty) job.
  if (delta.unreadable > 0) return FileOutcome::kUnreadable;
  if (delta.failed > 0 || delta.done == 0) return FileOutcome::kFailed;
  return delta.damaged > 0 ? FileOutcome::kDamaged : FileOutcome::kReingested;
}

// The task signals damage as text; the numbers come from reading the (kept) file again.
io::PbfsReadReport SalvageReport(const std::string& path) {
  absl::StatusOr<std::unique_ptr<io::PbfsReader>> reader =
      io::PbfsReader::OpenFile(path, io::PbfsReadMode::kSalvage);
  if (!reader.ok()) return {};
  absl::string_view message;
  while ((*reader)->Next(&message)) {
  }
  return (*reader)->report();
}

// Whether the chunk headers of the file at `path` lead exactly to its end: one 12-byte read
// per chunk, no CRCs. False means the end is torn or damaged (or the file unreadable).
bool HeadersReachEnd(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  uint64_t offset = 0;
  bool reached = fstat(fd, &st) == 0;
  const uint64_t size = reached ? static_cast<uint64_t>(st.st_size) : 0;
  while (reached && offset < size) {
    char header[io::kPbfsChunkHeaderBytes];
    if (pread(fd, header, sizeof(header), static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(sizeof(header))) {
      reached = false;
      break;
    }
    const uint64_t frames = io::pbfs_internal::LoadLittleEndian64(header + io::kPbfsCrcBytes);
    reached = frames <= size - offset - sizeof(header);
    offset += sizeof(header) + (reached ? frames : 0);
  }
  close(fd);
  return reached && offset == size;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(bool tls) {
  return tls ? grpc::SslCredentials(grpc::SslCredentialsOptions())
             : grpc::InsecureChannelCredentials();
}

ReingestionOptions TaskOptions(const FileReingestOptions& options) {
  ReingestionOptions task;
  task.api_key = options.api_key;
  task.ack_timeout = options.ack_timeout;
  task.retry = options.retry;
  task.retain_backups = options.retain;
  return task;
}

// One run: a private reactor around one ReingestionTask, fed one file at a time.
class ReingestRun {
 public:
  ReingestRun(const std::vector<std::string>& files, const FileReingestOptions& options,
      std::unique_ptr<io::Ring> ring)
      : files_(files),
        options_(options),
        start_(absl::Now()),
        deadline_(start_ + options.deadline),
        ring_(std::move(ring)),
        poller_(&cq_) {
    for (const std::string& path : files_) sizes_.push_back(FileSize(path));
    bus_.Subscribe([this](const ControlMessage& message) {
      if (message.kind == ControlKind::kErrorSignal) {
        signals_.push_back(RedactApiKey(message.error.ToString(), options_.api_key));
      }
    });
    task_ = std::make_unique<ReingestionTask>(
        CreateReingestionChannel(options_.uri, Credentials(options_.tls)), &cq_, poller_,
        *ring_, bus_, TaskOptions(options_));
    task_->Start();
  }

  ~ReingestRun() {
    Stop().IgnoreError();  // Only matters if Go() never ran: the task must be quiescent.
  }

  absl::StatusOr<FileReingestReport> Go() {
    for (size_t i = 0; i < files_.size(); ++i) ReingestOne(i);
    absl::Status stopped = Stop();
    report_.errors = signals_;
    report_.retries = task_->metrics().retries;
    report_.elapsed = absl::Now() - start_;
    current_ = -1;
    Progress(/*force=*/true);
    if (!stopped.ok()) return stopped;
    return std::move(report_);
  }

 private:
  bool Stopped() const {
    return aborted_ || task_->state() == ReingestionTask::State::kDraining ||
           task_->state() == ReingestionTask::State::kStopped;
  }

  void ReingestOne(size_t index) {
    if (Stopped()) return Skip(index);
    // The engine may delete a file with a torn tail once Sift has its intact messages
    // (engine/reingestion_task.h), so what was cut off is measured before it is sent.
    // Damage inside the file is measured afterwards: such files are kept.
    if (!HeadersReachEnd(files_[index])) pre_read_ = SalvageReport(files_[index]);
    const Counters before = Counters::Of(task_->metrics());
    const size_t first_signal = signals_.size();
    current_ = static_cast<int64_t>(index);
    sent_bytes_at_file_start_ = task_->stream_metrics().bytes_written;
    ControlMessage job;
    job.kind = ControlKind::kReingestBackups;
    job.checkpoint = index + 1;  // Only names the job in the task's messages.
    job.backup_files = {files_[index]};
    bus_.Publish(std::move(job));
    RunUntilIdle();
    Record(index, Counters::Of(task_->metrics()).Minus(before), first_signal);
  }

  // A file after re-ingestion stopped for good (or the deadline): never handed to the task.
  void Skip(size_t index) {
    FileReingestResult result;
    result.path = files_[index];
    const char* why = !ring_error_.ok() ? "the io_uring ring failed"
                      : aborted_          ? "the deadline ran out"
                                          : "re-ingestion stopped after an earlier failure";
    result.errors.push_back(absl::StrCat("not attempted: ", why, "; the file is kept"));
    Add(std::move(result));
  }

  void Record(size_t index, const Counters& delta, size_t first_signal) {
    FileReingestResult result;
    result.path = files_[index];
    result.outcome = Classify(delta);
    result.messages = delta.messages;
    result.bytes = delta.bytes;
    result.deleted = delta.deleted > 0;
    if (delta.damaged > 0 && pre_read_.end == io::PbfsEnd::kClean) {
      result.damage = SalvageReport(result.path);
    } else if (result.outcome != FileOutcome::kUnreadable) {
      result.damage = pre_read_;
    }
    pre_read_ = {};
    result.errors.assign(signals_.begin() + first_signal, signals_.end());
    if (result.outcome == FileOutcome::kFailed && result.errors.empty()) {
      result.errors.push_back("Sift did not acknowledge the file; it is kept");
    }
    Add(std::move(result));
  }

  void Add(FileReingestResult result) {
    report_.messages += result.messages;
    report_.bytes += result.bytes;
    switch (result.outcome) {
      case FileOutcome::kReingested:
        ++report_.files_reingested;
        break;
      case FileOutcome::kDamaged:
        ++report_.files_damaged;
        break;
      case FileOutcome::kUnreadable:
        ++report_.files_unreadable;
        break;
      case FileOutcome::kFailed:
        ++report_.files_failed;
        break;
    }
    done_input_bytes_ += sizes_[report_.files.size()];
    report_.files.push_back(std::move(result));
  }

  bool Idle() const {
    const ReingestionTask::State state = task_->state();
    return task_->idle() && state != ReingestionTask::State::kStreaming &&
           state != ReingestionTask::State::kAwaitingAck &&
           state != ReingestionTask::State::kBackoff &&
           state != ReingestionTask::State::kDeleting;
  }

  void RunUntilIdle() {
    for (;;) {
      Turn();
      if (Idle()) break;
      if (!aborted_ && absl::Now() >= deadline_) Abort();
      Wait();
    }
    bus_.Deliver();  // Signals published by the last Step() belong to this file.
  }

  // The reactor's turn, as engine/reactor.cc runs it.
  void Turn() {
    poller_.Poll();
    bus_.Deliver();
    task_->Step();
    Progress(/*force=*/false);
  }

  void Wait() {
    const absl::Duration wait = task_->ready_to_feed() ? absl::ZeroDuration()
                                                       : std::min(poller_.NextWait(), kMaxTurnWait);
    absl::StatusOr<int> ran = ring_->RunOnce(wait);
    if (!ran.ok() && ring_error_.ok()) {
      ring_error_ = ran.status();
      Abort();  // Without a ring nothing can complete; cancel what is in flight.
    }
  }

  void Abort() {
    aborted_ = true;
    task_->Abort();
  }

  // Finishes the task and the queue so that everything can be destroyed; idempotent.
  absl::Status Stop() {
    if (stopped_) return ring_error_;
    stopped_ = true;
    task_->Shutdown();
    const absl::Time grace = absl::Now() + kShutdownGrace;
    while (!task_->quiescent()) {
      Turn();
      if (task_->quiescent()) break;
      if (!aborted_ && absl::Now() >= grace) Abort();
      Wait();
    }
    bus_.Deliver();
    poller_.Shutdown();
    return ring_error_;
  }

  void Progress(bool force) {
    if (!options_.on_progress) return;
    const absl::Time now = absl::Now();
    if (!force && now < next_progress_) return;
    next_progress_ = now + options_.progress_interval;
    FileReingestProgress progress;
    progress.files_done = report_.files.size();
    progress.files_total = files_.size();
    progress.messages_acknowledged = task_->metrics().messages_reingested;
    progress.bytes_acknowledged = task_->metrics().bytes_reingested;
    progress.messages_sent = task_->stream_metrics().messages_written;
    progress.input_bytes_total = 0;
    for (uint64_t size : sizes_) progress.input_bytes_total += size;
    progress.input_bytes_done = done_input_bytes_;
    if (current_ >= 0 && static_cast<size_t>(current_) >= report_.files.size()) {
      progress.current_file = files_[current_];
      const uint64_t sent = task_->stream_metrics().bytes_written - sent_bytes_at_file_start_;
      progress.input_bytes_done += std::min(sent, sizes_[current_]);
    }
    progress.retries = task_->metrics().retries;
    progress.elapsed = now - start_;
    options_.on_progress(progress);
  }

  const std::vector<std::string>& files_;
  const FileReingestOptions& options_;
  const absl::Time start_;
  const absl::Time deadline_;
  std::vector<uint64_t> sizes_;
  std::vector<std::string> signals_;  // Every ErrorSignal of the run, redacted.
  FileReingestReport report_;

  // Declared before the task, so destroyed after it.
  std::unique_ptr<io::Ring> ring_;
  grpc::CompletionQueue cq_;
  CompletionQueuePoller poller_;
  ControlBus bus_;
  std::unique_ptr<ReingestionTask> task_;

  bool aborted_ = false;
  bool stopped_ = false;
  absl::Status ring_error_;
  int64_t current_ = -1;
  io::PbfsReadReport pre_read_;  // Of the current file, if it was read before sending.
  uint64_t sent_bytes_at_file_start_ = 0;
  uint64_t done_input_bytes_ = 0;
  absl::Time next_progress_ = absl::InfinitePast();
};

}  // namespace

absl::StatusOr<FileReingestReport> ReingestFiles(const std::vector<std::string>& files,
                                                 const FileReingestOptions& options) {
  if (files.empty()) return absl::InvalidArgumentError("no files to re-ingest");
  if (options.uri.empty()) {
    return absl::InvalidArgumentError("no Sift address to re-ingest to (uri is empty)");
  }
  absl::StatusOr<std::unique_ptr<io::Ring>> ring = io::Ring::Create(64);
  if (!ring.ok()) return ring.status();
  ReingestRun run(files, options, std::move(*ring));
  return run.Go();
}

}  // namespace sift_stream::engine
