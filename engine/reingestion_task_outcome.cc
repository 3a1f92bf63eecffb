// ReingestionTask: how a job ends once its attempt is streamed — acknowledged (markers for
// kept files, then deletion), failed (a backoff, or giving up after max_attempts), or refused
// because the task is shutting down or stopped for good. Split from reingestion_task.cc,
// which takes jobs and streams their files.

#include "engine/reingestion_task.h"

#include <fcntl.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/backup_dir.h"

namespace sift_stream::engine {

void ReingestionTask::StepAwaitingAck() {
  if (resolved_through_ < attempt_checkpoint_) return;  // Sift has not answered yet.
  auto verdict = failed_private_.find(attempt_checkpoint_);
  const bool failed = verdict != failed_private_.end();
  const absl::Status why = failed ? verdict->second : absl::OkStatus();
  failed_private_.erase(failed_private_.begin(),
                        failed_private_.upper_bound(attempt_checkpoint_));
  if (absl::IsInvalidArgument(why)) {
    // Sending the same bytes again cannot change Sift's mind; the next start tries once more.
    ++metrics_.jobs_failed;
    return GiveUpJob(absl::StatusCode::kInvalidArgument,
                     absl::StrCat("Sift refused its messages as invalid (", why.message(),
                                  "); not retried"));
  }
  if (failed) return AttemptFailed();
  AttemptSucceeded();
}

void ReingestionTask::AttemptSucceeded() {
  consecutive_failures_ = 0;
  ++metrics_.jobs_done;
  metrics_.files_reingested += attempt_files_;
  metrics_.messages_reingested += attempt_messages_;
  metrics_.bytes_reingested += attempt_bytes_;
  if (job_->checkpoint == 0) {
    metrics_.files_recovered += attempt_files_;
    metrics_.messages_recovered += attempt_messages_;
  }
  for (File& file : job_->files) {
    if (file.memory != nullptr) file.memory->MarkAcknowledged();
    if (file.damaged && file.memory == nullptr) damaged_files_.push_back(file.path);
  }
  MarkKeptFiles();
  if (options_.retain_backups) return FinishJob();
  unlink_index_ = 0;
  state_ = State::kDeleting;
}

// Files that stay after a job Sift acknowledged (retained, or damaged) must not be sent again
// by recovery; files that could not be read were not sent, and get no marker.
void ReingestionTask::MarkKeptFiles() {
  for (const File& file : job_->files) {
    if (file.memory != nullptr) continue;  // Freed with the job.
    if (!options_.retain_backups && !file.keep) continue;
    if (file.unreadable || file.unread_tail) continue;
    if (absl::Status marked = WriteAckMarker(file.path); !marked.ok()) Signal(marked);
  }
}

void ReingestionTask::AttemptFailed() {
  ++job_->attempts_failed;
  ++consecutive_failures_;
  if (shutting_down_) {
    ++metrics_.jobs_abandoned;
    return GiveUpJob(absl::StatusCode::kUnavailable,
                     "an attempt failed during shutdown and is not retried");
  }
  const RetryPolicy& retry = options_.retry;
  if (retry.max_attempts > 0 && job_->attempts_failed >= retry.max_attempts) {
    ++metrics_.jobs_failed;
    return GiveUpJob(absl::StatusCode::kUnavailable,
                     absl::StrCat("gave up after ", job_->attempts_failed, " failed attempts"));
  }
  ++metrics_.retries;
  // The task's failures in a row, not the job's: jobs take turns (StepBackoff), and an outage
  // fails them all, which must slow the attempts down as if there were one.
  metrics_.current_backoff = RetryBackoff(retry, consecutive_failures_, rng_);
  state_ = State::kBackoff;
  ring_.Timeout(backoff_timer_, metrics_.current_backoff,
                io::Bind<ReingestionTask, &ReingestionTask::OnBackoffTimer>(this));
}

void ReingestionTask::StepBackoff() {
  if (shutting_down_) {
    CancelBackoff();
    ++metrics_.jobs_abandoned;
    return GiveUpJob(absl::StatusCode::kUnavailable,
                     "shut down while waiting to retry a failed attempt");
  }
  if (backoff_timer_.in_flight()) return;
  // The next attempt goes to the job that waited longest: one that keeps failing (a file Sift
  // refuses for a reason retrying cannot see) must not hold up the jobs behind it.
  if (!queue_.empty()) {
    reader_.reset();  // It may read from the job's memory chunks.
    queue_.push_back(*std::move(job_));
    job_ = std::move(queue_.front());
    queue_.pop_front();
  }
  StartAttempt();
}

void ReingestionTask::OnBackoffTimer(io::Completion&) { Step(); }

void ReingestionTask::CancelBackoff() {
  if (!backoff_timer_.in_flight() || backoff_cancel_.in_flight()) return;
  ring_.Cancel(backoff_cancel_, backoff_timer_,
               io::Bind<ReingestionTask, &ReingestionTask::OnBackoffTimer>(this));
}

// One unlink at a time: a job has few files, and deleting is not urgent.
void ReingestionTask::StepDeleting() {
  if (unlink_.in_flight()) return;
  const std::vector<File>& files = job_->files;
  while (unlink_index_ < files.size() &&
         (files[unlink_index_].keep || files[unlink_index_].memory != nullptr)) {
    ++unlink_index_;
  }
  if (unlink_index_ == files.size()) return FinishJob();
  ring_.UnlinkAt(unlink_, AT_FDCWD, files[unlink_index_].path.c_str(), 0,
                 io::Bind<ReingestionTask, &ReingestionTask::OnUnlinked>(this));
}

void ReingestionTask::OnUnlinked(io::Completion& completion) {
  if (state_ != State::kDeleting) return Step();  // The job was given up meanwhile.
  const File& file = job_->files[unlink_index_];
  if (completion.result >= 0) {
    ++metrics_.files_deleted;
  } else if (completion.result != -ENOENT) {
    // The data is in Sift; a leftover file only costs disk space.
    undeleted_files_.push_back(file.path);
    Signal(io::ErrnoToStatus(-completion.result, "delete re-ingested backup file", file.path));
  }
  ++unlink_index_;
  Step();
}

void ReingestionTask::FinishJob() {
  reader_.reset();  // It may read from the job's memory chunks.
  job_.reset();
  metrics_.current_backoff = absl::ZeroDuration();
  state_ = State::kIdle;
}

void ReingestionTask::GiveUpJob(absl::StatusCode code, absl::string_view why) {
  Signal(absl::Status(code, absl::StrCat("re-ingestion of checkpoint ", job_->checkpoint, ": ",
                                         why, "; ", WhatIsKept(*job_))));
  FinishJob();
}

std::string ReingestionTask::WhatIsKept(const Job& job) {
  uint64_t in_memory = 0;
  std::vector<absl::string_view> paths;
  for (const File& file : job.files) {
    if (file.memory != nullptr) {
      in_memory += file.memory->messages();
    } else {
      paths.push_back(file.path);
    }
  }
  std::string kept;
  if (!paths.empty()) {
    kept = absl::StrCat("its backup files are kept: ", absl::StrJoin(paths, ", "));
  }
  if (in_memory > 0) {
    absl::StrAppend(&kept, kept.empty() ? "" : "; ", "its ", in_memory,
                    " message(s) held in memory are dropped, and lost");
  }
  return kept.empty() ? "it has nothing to keep" : kept;
}

// The private stream met a status retrying cannot fix (e.g. a revoked API key): every later
// attempt would fail the same way.
void ReingestionTask::FailForGood(const absl::Status& cause) {
  Signal(absl::Status(cause.code(), absl::StrCat("re-ingestion stopped: ", cause.message())));
  CancelBackoff();
  if (job_.has_value()) {
    ++metrics_.jobs_failed;
    GiveUpJob(cause.code(), "its stream failed for good");
  }
  BeginDrain();
}

void ReingestionTask::BeginDrain() {
  for (const Job& job : queue_) RefuseJob(job);
  queue_.clear();
  metrics_.pending_jobs = 0;
  stream_->Shutdown();
  state_ = State::kDraining;
}

void ReingestionTask::StepDraining() {
  stream_->Step();
  if (stream_->quiescent() && !unlink_.in_flight() && !backoff_timer_.in_flight() &&
      !backoff_cancel_.in_flight() && !rate_timer_.in_flight()) {
    state_ = State::kStopped;
  }
}

void ReingestionTask::RefuseJob(const Job& job) {
  const bool failed = stream_error_.has_value();
  if (failed) {
    ++metrics_.jobs_failed;
  } else {
    ++metrics_.jobs_abandoned;
  }
  Signal(absl::Status(
      failed ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kUnavailable,
      absl::StrCat("re-ingestion of checkpoint ", job.checkpoint, " not started (",
                   failed ? "re-ingestion stopped after a failure" : "shutting down",
                   "); ", WhatIsKept(job))));
}

}  // namespace sift_stream::engine
