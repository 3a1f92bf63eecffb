#include "engine/reingestion_task.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/backup_dir.h"
#include "engine/wire_format.h"

namespace sift_stream::engine {

const char* ReingestionStateName(ReingestionTask::State state) {
  switch (state) {
    case ReingestionTask::State::kIdle:
      return "idle";
    case ReingestionTask::State::kStreaming:
      return "streaming";
    case ReingestionTask::State::kAwaitingAck:
      return "awaiting-ack";
    case ReingestionTask::State::kBackoff:
      return "backoff";
    case ReingestionTask::State::kDeleting:
      return "deleting";
    case ReingestionTask::State::kDraining:
      return "draining";
    case ReingestionTask::State::kStopped:
      return "stopped";
  }
  return "?";
}

std::shared_ptr<grpc::Channel> CreateReingestionChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    grpc::ChannelArguments args) {
  // Without this, channels with equal arguments share gRPC's global subchannel pool, i.e. one
  // TCP connection, and a backlog would queue behind (or in front of) live data on it.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, credentials, args);
}

namespace {

IngestionOptions PrivateStreamOptions(const ReingestionOptions& options) {
  IngestionOptions stream;
  stream.method = options.method;
  stream.api_key = options.api_key;
  // Only the re-ingestion task ends checkpoints (one per attempt); the timer never should.
  stream.checkpoint_interval = absl::Hours(24 * 365);
  stream.ack_timeout = options.ack_timeout;
  stream.live_capacity = options.max_queued_messages;
  // The backoff between attempts is the re-ingestion task's; the stream's own is a formality,
  // and it must never give up by itself (that would stop it for good).
  stream.retry.max_attempts = 0;
  stream.retry.initial_backoff = absl::Milliseconds(1);
  stream.retry.max_backoff = absl::Milliseconds(1);
  stream.retry.jitter = 0;
  // One file Sift calls invalid is that job's problem; the other jobs still go.
  stream.invalid_argument_fails_only_the_checkpoint = true;
  return stream;
}

}  // namespace

ReingestionTask::ReingestionTask(std::shared_ptr<grpc::Channel> channel,
                                 grpc::CompletionQueue* cq, CompletionQueuePoller& poller,
                                 io::Ring& ring, ControlBus& bus, ReingestionOptions options)
    : ring_(ring),
      bus_(bus),
      options_(std::move(options)),
      self_(std::make_shared<ReingestionTask*>(this)) {
  assert(options_.max_queued_messages > 0 && options_.batch_messages > 0);
  stream_ = std::make_unique<IngestionTask>(std::move(channel), cq, poller, ring, private_bus_,
                                            PrivateStreamOptions(options_));
  // The private bus dies with this task, so `this` is safe there.
  private_bus_.Subscribe([this](const ControlMessage& message) { OnPrivateControl(message); });
  bus_.Subscribe([self = self_](const ControlMessage& message) {
    if (*self != nullptr) (*self)->OnControl(message);
  });
}

ReingestionTask::~ReingestionTask() {
  assert(quiescent() && "destroy the re-ingestion task only once quiescent()");
  *self_ = nullptr;
}

void ReingestionTask::Start() { stream_->Start(); }

void ReingestionTask::Shutdown() {
  shutting_down_ = true;
  Step();
}

void ReingestionTask::Abort() {
  Shutdown();
  stream_->Abort();
  Step();
}

bool ReingestionTask::ready_to_feed() const {
  return state_ == State::kStreaming && !rate_timer_.in_flight() &&
         stream_->live_depth() < options_.max_queued_messages;
}

bool ReingestionTask::quiescent() const {
  return state_ == State::kStopped && stream_->quiescent() && !unlink_.in_flight() &&
         !backoff_timer_.in_flight() && !backoff_cancel_.in_flight() && !rate_timer_.in_flight();
}

void ReingestionTask::OnControl(const ControlMessage& message) {
  switch (message.kind) {
    case ControlKind::kReingestBackups: {
      Job job;
      job.checkpoint = message.checkpoint;
      job.only = message.only_messages;
      for (const std::string& path : message.backup_files) job.files.push_back(File{path});
      for (size_t i = 0; i < message.memory_chunks.size(); ++i) {
        File chunk;
        chunk.path = absl::StrCat("memory backup of checkpoint ", message.checkpoint, ", chunk ",
                                  i + 1, " of ", message.memory_chunks.size());
        chunk.memory = message.memory_chunks[i];
        job.files.push_back(std::move(chunk));
      }
      // A job that arrives once shutdown began would never start: say so now.
      if (shutting_down_ || state_ == State::kDraining || state_ == State::kStopped) {
        return RefuseJob(job);
      }
      queue_.push_back(std::move(job));
      metrics_.pending_jobs = queue_.size();
      return;
    }
    case ControlKind::kShutdown:
      return Shutdown();
    case ControlKind::kBackupFull:
    case ControlKind::kCheckpointComplete:
    case ControlKind::kCheckpointNeedsReingestion:
    case ControlKind::kErrorSignal:
      return;  // The live path's business.
  }
}

// Only records: Step() acts, so a verdict is never handled inside the private task's call.
void ReingestionTask::OnPrivateControl(const ControlMessage& message) {
  switch (message.kind) {
    case ControlKind::kCheckpointNeedsReingestion:
      failed_private_[message.checkpoint] = message.error;
      return;
    case ControlKind::kCheckpointComplete:
      resolved_through_ = std::max(resolved_through_, message.checkpoint);
      return;
    case ControlKind::kErrorSignal:
      if (!stream_error_.has_value()) stream_error_ = message.error;
      return;
    default:
      return;
  }
}

void ReingestionTask::Step() {
  for (;;) {
    private_bus_.Deliver();
    if (stream_error_.has_value() && state_ != State::kDraining && state_ != State::kStopped) {
      FailForGood(*stream_error_);
    }
    const State before = state_;
    switch (state_) {
      case State::kIdle:
        StepIdle();
        break;
      case State::kStreaming:
        StepStreaming();
        break;
      case State::kAwaitingAck:
        StepAwaitingAck();
        break;
      case State::kBackoff:
        StepBackoff();
        break;
      case State::kDeleting:
        StepDeleting();
        break;
      case State::kDraining:
        StepDraining();
        break;
      case State::kStopped:
        return;
      default:
        std::abort();  // An unknown state is a bug.
    }
    if (state_ == before) return;
  }
}

void ReingestionTask::StepIdle() {
  if (shutting_down_) return BeginDrain();
  if (queue_.empty()) return;
  job_ = std::move(queue_.front());
  queue_.pop_front();
  metrics_.pending_jobs = queue_.size();
  StartAttempt();
}

void ReingestionTask::StartAttempt() {
  // The private task's current checkpoint is empty: the previous attempt's ended.
  attempt_checkpoint_ = stream_->current_checkpoint();
  file_index_ = 0;
  reader_.reset();
  attempt_files_ = 0;
  attempt_messages_ = 0;
  attempt_bytes_ = 0;
  attempt_position_ = 0;
  attempt_range_ = 0;
  attempt_sends_all_ = job_->only.empty();
  for (File& file : job_->files) file.malformed = 0;
  state_ = State::kStreaming;
}

// Feeds one bounded batch. The live queue stays below its capacity, so the private task's
// drop-oldest rule never fires (it would silently mark the attempt failed).
void ReingestionTask::StepStreaming() {
  if (stream_->current_checkpoint() != attempt_checkpoint_) {
    // The stream failed mid-attempt and ended the checkpoint itself; its verdict follows.
    reader_.reset();
    state_ = State::kAwaitingAck;
    return;
  }
  size_t budget = RateBudget(options_.batch_messages);
  const size_t granted = budget;
  // Frames read but not sent (acknowledged live, or malformed) are bounded too, so that one
  // step never scans a whole large file.
  size_t reads_left = 4 * options_.batch_messages;
  while (budget > 0 && reads_left > 0 &&
         stream_->live_depth() < options_.max_queued_messages) {
    if (reader_ == nullptr) {
      if (file_index_ == job_->files.size()) {
        stream_->EndCheckpoint();
        state_ = State::kAwaitingAck;
        break;
      }
      if (!OpenNextFile()) continue;
    }
    absl::string_view message;
    if (!reader_->Next(&message)) {
      FinishFile();
      continue;
    }
    --reads_left;
    if (!Wanted()) continue;  // Sift acknowledged it on the live stream.
    if (!wire::IsWellFormedMessage(message)) {
      ++job_->files[file_index_].malformed;  // Sift could only refuse it, on every attempt.
      continue;
    }
    stream_->Enqueue(message);  // Copies: `message` dies at the next Next().
    ++attempt_messages_;
    attempt_bytes_ += message.size();
    --budget;
  }
  rate_tokens_ -= static_cast<double>(granted - budget);
  stream_->Step();
}

bool ReingestionTask::Wanted() {
  const uint64_t position = attempt_position_++;
  if (reader_->report().regions_skipped > 0) attempt_sends_all_ = true;
  if (attempt_sends_all_) return true;
  const auto& only = job_->only;
  while (attempt_range_ < only.size() && position >= only[attempt_range_].second) {
    ++attempt_range_;
  }
  return attempt_range_ < only.size() && position >= only[attempt_range_].first;
}

size_t ReingestionTask::RateBudget(size_t wanted) {
  const double rate = options_.max_messages_per_second;
  if (rate <= 0) return wanted;
  const absl::Time now = absl::Now();
  const double burst = std::max(1.0, rate / 10);
  if (rate_refilled_ == absl::InfinitePast()) rate_tokens_ = burst;
  rate_tokens_ = std::min(burst, rate_tokens_ + rate * absl::ToDoubleSeconds(now - std::max(
                                                           rate_refilled_, now - absl::Hours(1))));
  rate_refilled_ = now;
  if (rate_tokens_ >= 1) return std::min(wanted, static_cast<size_t>(rate_tokens_));
  if (!rate_timer_.in_flight()) {
    // At most 100 ms, so that a very low cap never holds a shutdown for long.
    const absl::Duration until_one = absl::Seconds((1 - rate_tokens_) / rate);
    ring_.Timeout(rate_timer_,
                  std::clamp(until_one, absl::Milliseconds(1), absl::Milliseconds(100)),
                  io::Bind<ReingestionTask, &ReingestionTask::OnRateTimer>(this));
  }
  return 0;
}

void ReingestionTask::OnRateTimer(io::Completion&) { Step(); }

bool ReingestionTask::OpenNextFile() {
  File& file = job_->files[file_index_];
  if (file.memory != nullptr) {
    reader_ = io::PbfsReader::FromBytes(file.memory->bytes(), io::PbfsReadMode::kSalvage);
    return true;  // Not a file: not counted in files_reingested.
  }
  absl::StatusOr<std::unique_ptr<io::PbfsReader>> reader =
      io::PbfsReader::OpenFile(file.path, io::PbfsReadMode::kSalvage);
  if (reader.ok()) {
    reader_ = std::move(*reader);
    ++attempt_files_;
    return true;
  }
  ++file_index_;
  attempt_sends_all_ = true;  // The positions of the files after it are unknown.
  file.keep = true;
  file.unreadable = true;
  if (!file.signaled) {
    file.signaled = true;
    ++metrics_.unreadable_files;
    Signal(absl::Status(
        reader.status().code(),
        absl::StrCat("re-ingestion of checkpoint ", job_->checkpoint,
                     ": cannot read backup file ", file.path, " (", reader.status().message(),
                     "); its messages are not re-ingested, the job's other files are")));
  }
  return false;
}

// A file read to its end. Damage (or an I/O error) keeps the file for a human to look at;
// every intact message in it was streamed all the same.
void ReingestionTask::FinishFile() {
  File& file = job_->files[file_index_];
  const io::PbfsReadReport& report = reader_->report();
  const absl::Status& read_status = reader_->status();
  if (read_status.ok() && report.end == io::PbfsEnd::kTornTail && !file.signaled) {
    file.signaled = true;  // Counted once per job, however many attempts read it.
    ++metrics_.torn_tails;
  }
  if (!read_status.ok()) file.unread_tail = true;  // Its messages after the error were not sent.
  // Messages missing from this file shift the positions of every later one.
  if (report.end != io::PbfsEnd::kClean || !read_status.ok()) attempt_sends_all_ = true;
  if (file.malformed > 0) {
    NoteDamaged(file);
    if (!file.malformed_signaled) {
      file.malformed_signaled = true;
      Signal(absl::DataLossError(absl::StrFormat(
          "re-ingestion of checkpoint %d: backup file %s holds %d frame(s) that are not "
          "serialized messages (intact CRC: the writer wrote them so); they are skipped, its "
          "other %d messages are re-ingested and the file is kept",
          job_->checkpoint, file.path, file.malformed,
          report.messages_read - file.malformed)));
    }
  }
  if (report.end == io::PbfsEnd::kCorrupt || !read_status.ok()) {
    NoteDamaged(file);
    if (!file.signaled) {
      file.signaled = true;
      const std::string problem =
          read_status.ok() ? report.problem : std::string(read_status.message());
      Signal(absl::DataLossError(absl::StrFormat(
          "re-ingestion of checkpoint %d: backup file %s is damaged (%s): %s; %d bytes skipped "
          "in %d regions, %d bytes of tail unread; its %d intact messages are re-ingested and "
          "the file is kept",
          job_->checkpoint, file.path,
          read_status.ok() ? io::PbfsEndName(report.end) : "read error", problem,
          report.bytes_skipped, report.regions_skipped, report.tail_bytes,
          report.messages_read)));
    }
  }
  reader_.reset();
  ++file_index_;
}

// Kept for a human, counted once however many problems and attempts found it; listed in
// damaged_files() once Sift confirmed the rest of its job (AttemptSucceeded).
void ReingestionTask::NoteDamaged(File& file) {
  file.keep = true;
  if (file.damaged) return;
  file.damaged = true;
  ++metrics_.damaged_files;
}

void ReingestionTask::Signal(absl::Status error) {
  ControlMessage message;
  message.kind = ControlKind::kErrorSignal;
  message.error = std::move(error);
  bus_.Publish(std::move(message));
}

}  // namespace sift_stream::engine
