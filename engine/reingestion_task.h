// engine/reingestion_task.h — streams the backup files of failed checkpoints to Sift again.
//
// When Sift did not acknowledge a checkpoint's live stream, the backup manager publishes
// kReingestBackups{checkpoint, files} on the engine's ControlBus. This task queues such jobs
// (FIFO) and, one at a time, reads the job's PBFS files in write order and streams every
// message on a stream of its own. A job succeeds when Sift acknowledges that stream; then its
// files are deleted (unless retain_backups). A failed attempt is retried from the first file
// after an exponential backoff (RetryPolicy; it grows with the task's failures in a row), up
// to max_attempts per job (0: for ever); giving up keeps the files and raises kErrorSignal
// naming them. While other jobs wait, the retry goes to the back of the queue, so a job that
// keeps failing (a file Sift refuses with a retryable status) never holds up the others. Re-sending a whole job can duplicate messages
// Sift already received on the failed stream (whether Sift then stores them twice is not
// known to us); losing nothing matters more than sending each message once. A job may name
// only some of its messages (ControlMessage::only_messages): the others are read and skipped.
//
// The streaming itself is not reimplemented here: the task owns a private IngestionTask
// (engine/ingestion_task.h) whose checkpoints are this task's attempts. It runs
//   - on its own channel, so that a backlog being re-sent never queues in front of live data
//     on the live connection (gRPC shares one connection among channels with equal arguments
//     by default; CreateReingestionChannel() makes a channel that does not);
//   - with a private ControlBus that only this task reads, so its CheckpointComplete /
//     CheckpointNeedsReingestion verdicts never reach the backup manager;
//   - with a checkpoint interval of a year, so only this task ends its checkpoints (one per
//     attempt), and with a 1 ms backoff of its own, so the backoff between attempts is this
//     task's alone.
// Messages are fed to it in batches, keeping its live queue below max_queued_messages (far
// below its capacity), so its drop-oldest rule never fires: nothing is dropped here.
//
// Damage. Files are read with io::PbfsReader in kSalvage mode. A torn tail (what a crash
// mid-write leaves, io/pbfs_reader.h) is normal in a file recovered at start-up: its intact
// messages are streamed, the tail is counted (metrics().torn_tails), and the file is treated
// like a clean one. Every intact message of a damaged file (corrupt chunks, or an I/O error)
// is streamed too, but the file is kept even after the job succeeds, with an ".acked" marker
// beside it (engine/backup_dir.h) so that recovery does not send it again, kErrorSignal
// names the file, the problem and the bytes skipped, and damaged_files() lists it. A file
// that cannot be opened (e.g. missing) raises kErrorSignal naming it and the job goes on with
// the others. Each file's problem is signalled
// once per job, however many attempts read it.
//
// Memory. A kReingestBackups from a memory backup (engine/memory_backup.h) carries the
// checkpoint's chunks instead of files: each chunk is read like a file, from memory
// (io::PbfsReader::FromBytes), and retried the same way. On success the chunks are marked
// acknowledged and freed with the job; a job given up or refused drops them, and its messages
// are lost (MemoryChunk counts them) — there is nothing to keep.
//
// Recovery. A kReingestBackups for checkpoint 0 carries files a process that is gone left
// behind (start-up recovery, engine/reactor.h); such jobs count in files_recovered and
// messages_recovered as well. With retain_backups, the files of a job that succeeded get
// ".acked" markers.
//
// Refused data. If Sift ends an attempt with INVALID_ARGUMENT (it refuses the job's messages),
// the job is given up at once, its files kept and named in kErrorSignal; sending the same
// bytes again cannot succeed, and the other jobs go on. The next start tries the files once
// more (start-up recovery), in case what Sift refused has changed (a flow registered since).
//
// Failure for good. If the private stream meets a status retrying cannot fix that is not about
// the data (UNAUTHENTICATED, PERMISSION_DENIED: the key), its ErrorSignal is forwarded on the
// engine's bus, the job's files are kept, and the task stops: later jobs are refused with
// kErrorSignal naming their files (which stay on disk for start-up recovery).
//
// Shutdown (kShutdown on the bus, or Shutdown()). The job in progress is finished if its
// current attempt succeeds; a failed attempt is not retried, and a job waiting in backoff is
// abandoned. Jobs not yet started are abandoned. Each abandoned job raises kErrorSignal naming
// its files, which stay on disk. Then the private stream shuts down and quiescent() turns true.
//
// Threading: reactor thread only, like the rest of the engine. One enum of states and one step
// function; a step blocks at most for opening files and reading one bounded batch from them
// (options.batch_messages messages, read through the reader's 1 MiB window).
//
// Example (the reactor's side):
//
//   ReingestionOptions options;
//   options.api_key = key;
//   ReingestionTask reingestion(CreateReingestionChannel(uri, credentials), &cq, poller, *ring,
//                               bus, options);
//   reingestion.Start();
//   while (!(shutting_down && reingestion.quiescent() && ...)) {
//     poller.Poll();
//     bus.Deliver();
//     reingestion.Step();  // and the other tasks' steps
//     ring->RunOnce(poller.NextWait());
//   }

#ifndef SIFT_STREAM_ENGINE_REINGESTION_TASK_H_
#define SIFT_STREAM_ENGINE_REINGESTION_TASK_H_

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/security/credentials.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/completion_queue_poller.h"
#include "engine/control_message.h"
#include "engine/ingestion_task.h"
#include "engine/memory_chunk.h"
#include "io/pbfs_reader.h"
#include "io/ring.h"

namespace sift_stream::engine {

struct ReingestionOptions {
  std::string method = "/sift.ingest.v1.IngestService/IngestWithConfigDataStream";
  std::string api_key;
  // How long Sift may take to acknowledge an attempt's stream after the last message.
  absl::Duration ack_timeout = absl::Seconds(30);
  // Between attempts of one job. max_attempts counts attempts (3: two retries); 0: for ever.
  RetryPolicy retry;
  // Keep the files of jobs that succeeded instead of deleting them.
  bool retain_backups = false;
  // The private live queue is kept below this; its capacity is set to exactly this.
  size_t max_queued_messages = 4096;
  // Messages read from the files per Step(): bounds the time one step takes.
  size_t batch_messages = 1024;
  // Caps the re-ingestion rate (messages per second; 0: no cap), so that catching up after an
  // outage does not swamp a thin link. Bursts of up to a tenth of a second's worth.
  double max_messages_per_second = 0;
};

struct ReingestionMetrics {
  uint64_t jobs_done = 0;       // Sift acknowledged every readable message of the job.
  uint64_t jobs_failed = 0;     // Gave up (max_attempts, or a status retrying cannot fix).
  uint64_t jobs_abandoned = 0;  // Not finished because of shutdown.
  uint64_t files_reingested = 0;  // Files of done jobs that could be opened (damaged included).
  uint64_t files_deleted = 0;
  uint64_t messages_reingested = 0;  // Acknowledged by Sift (the successful attempt's).
  uint64_t bytes_reingested = 0;     // Serialized message bytes of those.
  uint64_t retries = 0;
  absl::Duration current_backoff = absl::ZeroDuration();
  uint64_t files_recovered = 0;     // Files of done checkpoint-0 (recovery) jobs.
  uint64_t messages_recovered = 0;  // Messages of those.
  uint64_t torn_tails = 0;        // Files that ended in a torn tail (their messages were sent).
  uint64_t damaged_files = 0;     // Corrupt, or read with an I/O error.
  uint64_t unreadable_files = 0;  // Could not be opened (missing, permissions).
  size_t pending_jobs = 0;        // Queued behind the one in progress.
};

// A channel to `target` that never shares its connection with other channels; `args` are the
// stream's own (e.g. its compression).
std::shared_ptr<grpc::Channel> CreateReingestionChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    grpc::ChannelArguments args = grpc::ChannelArguments());

class ReingestionTask {
 public:
  enum class State {
    kIdle,         // No job in progress; starts the next queued one.
    kStreaming,    // Reading the job's files in batches into the private stream.
    kAwaitingAck,  // The attempt's messages are handed over (or its stream failed early);
                   // waiting for the private checkpoint's verdict.
    kBackoff,      // The attempt failed: the backoff timer runs before the next attempt.
    kDeleting,     // The job succeeded: unlinking its files one at a time through the ring.
    kDraining,     // Shut down or failed for good: waiting for the private stream to finish.
    kStopped,      // Nothing in flight; jobs that arrive now are refused.
  };

  // Subscribes to `bus` (kReingestBackups, kShutdown). `channel` should come from
  // CreateReingestionChannel(). `cq`, `poller`, `ring` and `bus` must outlive the task; the
  // bus subscription may outlive it (it is disarmed by the destructor).
  ReingestionTask(std::shared_ptr<grpc::Channel> channel, grpc::CompletionQueue* cq,
                  CompletionQueuePoller& poller, io::Ring& ring, ControlBus& bus,
                  ReingestionOptions options);
  // Destroy only once quiescent() (after kShutdown or Shutdown()).
  ~ReingestionTask();

  ReingestionTask(const ReingestionTask&) = delete;
  ReingestionTask& operator=(const ReingestionTask&) = delete;

  // Starts the private ingestion task. Call once before the first Step().
  void Start();

  // Advances as far as it can without waiting. Call every reactor turn, after the bus has
  // delivered; completions (timers, unlinks, gRPC events) also step it.
  void Step();

  // As if kShutdown had been delivered; see the file comment.
  void Shutdown();
  // Shutdown, and cancel the private stream in flight: for a deadline that ran out. The job
  // in progress is abandoned (its files stay).
  void Abort();

  State state() const { return state_; }
  // No job in progress or queued: every job delivered so far has ended (done, failed or
  // abandoned). Also true once stopped, when state() is no longer kIdle.
  bool idle() const { return !job_.has_value() && queue_.empty(); }
  // Has messages to feed and room to feed them now (streaming, its queue below
  // max_queued_messages, no rate cap to wait for): the loop should turn again at once rather
  // than wait for gRPC, or re-ingestion idles for a poll interval after every batch.
  bool ready_to_feed() const;
  // True once shut down and nothing, here or in the private stream, is in flight.
  bool quiescent() const;
  const ReingestionMetrics& metrics() const { return metrics_; }
  // Backup files found damaged (corrupt, an I/O error while reading, malformed frames), once
  // each, of jobs Sift acknowledged: every intact message in them was re-ingested, and they are
  // kept on disk. (A damaged file of a job given up is kept and reported as such.)
  const std::vector<std::string>& damaged_files() const { return damaged_files_; }
  // Files of acknowledged jobs whose deletion failed: Sift has their data; they stay on disk.
  const std::vector<std::string>& undeleted_files() const { return undeleted_files_; }
  // The private stream's own counters (streams started and failed, messages written).
  const IngestionMetrics& stream_metrics() const { return stream_->metrics(); }

 private:
  struct File {
    std::string path;  // For a memory chunk, a description for messages.
    // Set for a memory backup's chunk, which is no file at all.
    std::shared_ptr<MemoryChunk> memory = nullptr;
    bool keep = false;      // Damaged or unreadable: never deleted by this task.
    bool unreadable = false;  // Could not be opened in this job: nothing of it was sent.
    bool unread_tail = false;  // A read error stopped it part way: the rest was not sent.
    bool signaled = false;  // Its problem was reported (once per job).
    bool damaged = false;    // Corrupt, unreadable part way, or holding malformed frames.
    uint64_t malformed = 0;  // Frames skipped as not serialized messages (this attempt).
    bool malformed_signaled = false;
  };
  struct Job {
    uint64_t checkpoint = 0;
    std::vector<File> files;
    // ControlMessage::only_messages: the positions to send; empty sends every message.
    std::vector<std::pair<uint64_t, uint64_t>> only;
    int attempts_failed = 0;  // Against RetryPolicy::max_attempts.
  };

  void OnControl(const ControlMessage& message);
  void OnPrivateControl(const ControlMessage& message);

  // One handler per state; Step() runs them until the state stops changing.
  void StepIdle();
  void StepStreaming();
  // Whether the message just read is one the job sends (see Job::only).
  bool Wanted();
  void StepAwaitingAck();
  void StepBackoff();
  void StepDeleting();
  void StepDraining();

  void StartJob();
  void StartAttempt();
  // Opens the next file of the attempt; false if it could not be opened (signalled).
  bool OpenNextFile();
  void FinishFile();
  void NoteDamaged(File& file);
  void AttemptSucceeded();
  void AttemptFailed();
  void MarkKeptFiles();
  void OnUnlinked(io::Completion& completion);
  void OnBackoffTimer(io::Completion& completion);
  // The rate cap: how many messages may be read now (refilling the bucket), arming the
  // timer when none may.
  size_t RateBudget(size_t wanted);
  void OnRateTimer(io::Completion& completion);
  void CancelBackoff();
  void FinishJob();
  // Gives the current job up, keeping its files: signals `why` and lists them.
  void GiveUpJob(absl::StatusCode code, absl::string_view why);
  void FailForGood(const absl::Status& cause);
  void BeginDrain();
  void RefuseJob(const Job& job);
  // "its backup files are kept: a, b" or, for a memory backup's job, what is lost with it.
  static std::string WhatIsKept(const Job& job);
  void Signal(absl::Status error);

  io::Ring& ring_;
  ControlBus& bus_;
  const ReingestionOptions options_;
  // Lets the bus subscription outlive the task harmlessly (ControlBus cannot unsubscribe).
  std::shared_ptr<ReingestionTask*> self_;

  // The private stream and the bus only it publishes on and only this task reads.
  ControlBus private_bus_;
  std::unique_ptr<IngestionTask> stream_;
  // Verdicts from the private bus, acted on by Step().
  uint64_t resolved_through_ = 0;    // Highest private checkpoint with CheckpointComplete.
  // Private checkpoints marked NeedsReingestion, with the status their stream ended with.
  std::map<uint64_t, absl::Status> failed_private_;
  std::optional<absl::Status> stream_error_;

  State state_ = State::kIdle;
  bool shutting_down_ = false;
  std::deque<Job> queue_;
  std::optional<Job> job_;
  // Failed attempts in a row, whichever jobs they were: the backoff grows with these.
  int consecutive_failures_ = 0;

  // The attempt in progress: its private checkpoint, the file being read, what it sent.
  uint64_t attempt_checkpoint_ = 0;
  size_t file_index_ = 0;
  std::unique_ptr<io::PbfsReader> reader_;
  uint64_t attempt_files_ = 0;
  uint64_t attempt_messages_ = 0;
  uint64_t attempt_bytes_ = 0;
  // For a job with `only` ranges: the position of the next message read, the first range
  // that may still hold it, and whether positions are still trustworthy (a damaged region,
  // a torn tail or an unreadable file shifts them: from then on every message is sent).
  uint64_t attempt_position_ = 0;
  size_t attempt_range_ = 0;
  bool attempt_sends_all_ = false;

  size_t unlink_index_ = 0;
  io::Completion unlink_;
  io::Completion backoff_timer_;
  io::Completion rate_timer_;
  double rate_tokens_ = 0;
  absl::Time rate_refilled_ = absl::InfinitePast();
  io::Completion backoff_cancel_;
  std::mt19937_64 rng_{std::random_device{}()};
  ReingestionMetrics metrics_;
  std::vector<std::string> damaged_files_;
  std::vector<std::string> undeleted_files_;
};

const char* ReingestionStateName(ReingestionTask::State state);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_REINGESTION_TASK_H_
