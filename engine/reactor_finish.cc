// The reactor's end: Finish and FinishWithReport wait for the loop to stop (or abort it at
// the deadline), then say what can be proved — which files still hold data Sift has not
// confirmed, which were damaged, what may be lost. Split from reactor.cc, which runs the loop.

#include "engine/reactor.h"

#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/backup_dir.h"

namespace sift_stream::engine {
namespace {

// The stream's files still in `dir`, sorted (names sort in write order).
std::vector<std::string> FilesOfStream(const std::string& dir, const std::string& stream_id) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  const std::string prefix = stream_id + "-";
  while (dirent* entry = readdir(d)) {
    if (absl::StartsWith(entry->d_name, prefix) && absl::EndsWith(entry->d_name, ".pbfs")) {
      files.push_back(absl::StrCat(dir, "/", entry->d_name));
    }
  }
  closedir(d);
  std::sort(files.begin(), files.end(), BackupFileWrittenBefore);
  return files;
}

}  // namespace

absl::Status Reactor::Verdict() {
  const IngestionMetrics* live = ingestion_ != nullptr ? &ingestion_->metrics() : nullptr;
  if (!backup_failure_.ok()) {
    const uint64_t unprotected = UnprotectedMessages();
    if (unprotected > 0) {
      return absl::DataLossError(absl::StrCat(
          "the backup disk failed (", backup_failure_.message(), ") and ", unprotected,
          " message(s) accepted by Send are neither on disk nor acknowledged by Sift: they "
          "may be lost"));
    }
  }
  if (config_.mode == StreamMode::kBackupsOnly) return absl::OkStatus();
  if (config_.mode == StreamMode::kLiveWithMemoryBackups) return MemoryVerdict();
  if (config_.mode == StreamMode::kLiveOnly) {
    if (live->checkpoints_failed == 0) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        live->checkpoints_failed, " checkpoint(s) were not acknowledged by Sift and live-only "
        "mode keeps no backups: their messages may be lost"));
  }
  std::vector<std::string> unconfirmed;
  bool all_reingested = failed_checkpoints_.empty();  // NoRetries: nothing re-ingested.
  if (reingestion_ != nullptr) {
    const ReingestionMetrics& re = reingestion_->metrics();
    all_reingested = re.jobs_done >= reingest_jobs_ && re.damaged_files == 0 &&
                     re.unreadable_files == 0 && re.jobs_failed == 0;
  }
  if (!config_.backups.retain_backups) {
    unconfirmed = FilesOfStream(config_.backups.backup_dir, config_.stream_id);
  } else if (aborting_ || !all_reingested) {
    // Retained files do not say which of them Sift confirmed: name them all.
    unconfirmed = FilesOfStream(config_.backups.backup_dir, config_.stream_id);
  }
  if (!recovery_files_.empty()) {
    // Left by an earlier process and not (all) confirmed by recovery: still leftovers now.
    std::vector<std::string> left =
        LeftoverBackupFiles(config_.backups.backup_dir, config_.stream_id);
    unconfirmed.insert(unconfirmed.end(), left.begin(), left.end());
  }
  RemoveUndeleted(unconfirmed);
  std::string kept;
  if (!unconfirmed.empty()) {
    kept = absl::StrCat(
        unconfirmed.size(), " backup file(s) may hold data Sift has not confirmed; they are kept ",
        config_.no_retries ? "(NoRetries: not re-ingested): " : "for re-ingestion: ",
        absl::StrJoin(unconfirmed, ", "));
  }
  const std::vector<std::string> no_files;
  const std::vector<std::string>& damaged =
      reingestion_ != nullptr ? reingestion_->damaged_files() : no_files;
  if (damaged.empty()) {
    return kept.empty() ? absl::OkStatus() : absl::UnavailableError(kept);
  }
  // The intact messages went to Sift; whatever the damaged bytes held did not, and cannot.
  return absl::DataLossError(absl::StrCat(
      damaged.size(), " backup file(s) were damaged: every intact message in them was "
      "re-ingested, what the damaged bytes held could not be read; the files are kept for "
      "`pbfs inspect`: ", absl::StrJoin(damaged, ", "), kept.empty() ? "" : "; ", kept));
}

FinishReport Reactor::BuildReport() const {
  OutcomeLedger::Inputs inputs;
  inputs.messages_sent = moved_;
  if (backup_ != nullptr) {
    inputs.durable_messages = backup_->durable_messages();
    inputs.unconfirmed_files =
        UnconfirmedFilesOfStream(config_.backups.backup_dir, config_.stream_id);
    RemoveUndeleted(inputs.unconfirmed_files);
  }
  inputs.reingests = reingestion_ != nullptr;
  FinishReport report = outcomes_.Report(inputs);
  if (!recovery_files_.empty()) {
    report.leftover_files = LeftoverBackupFiles(config_.backups.backup_dir, config_.stream_id);
  }
  if (reingestion_ != nullptr) report.damaged_files = reingestion_->damaged_files();
  report.undeleted_files = UndeletedFiles();
  return report;
}

// Sift acknowledged these; only their deletion failed (Metrics().last_error says why), so they
// confirm their checkpoints as if they were gone.
void Reactor::RemoveUndeleted(std::vector<std::string>& files) const {
  const std::vector<std::string> undeleted = UndeletedFiles();
  files.erase(std::remove_if(files.begin(), files.end(),
                             [&](const std::string& file) {
                               return std::find(undeleted.begin(), undeleted.end(), file) !=
                                      undeleted.end();
                             }),
              files.end());
}

std::vector<std::string> Reactor::UndeletedFiles() const {
  std::vector<std::string> files;
  if (backup_ != nullptr) files = backup_->undeleted_files();
  if (reingestion_ != nullptr) {
    const std::vector<std::string>& more = reingestion_->undeleted_files();
    files.insert(files.end(), more.begin(), more.end());
  }
  return files;
}

uint64_t Reactor::UnprotectedMessages() const {
  const uint64_t durable = backup_ != nullptr ? backup_->durable_messages() : 0;
  if (ingestion_ == nullptr) return moved_ - durable;  // Nothing else protects them.
  uint64_t unprotected = 0;
  uint64_t start = pruned_end_;
  for (const auto& [checkpoint, end] : checkpoint_ends_) {
    const bool failed = std::find(failed_checkpoints_.begin(), failed_checkpoints_.end(),
                                  checkpoint) != failed_checkpoints_.end();
    if (failed && end > durable) unprotected += end - std::max(start, durable);
    start = end;
  }
  // Messages after the last checkpoint that ended were never acknowledged.
  if (moved_ > std::max(start, durable)) unprotected += moved_ - std::max(start, durable);
  return unprotected;
}

absl::Status Reactor::Finish(absl::Duration timeout) {
  return FinishWithReport(timeout).status;
}

FinishReport Reactor::FinishWithReport(absl::Duration timeout) {
  std::lock_guard<std::mutex> finish_lock(finish_mu_);
  if (finished_) return finish_report_;
  finish_requested_ = true;
  wakeup_->Notify();
  {
    std::unique_lock<std::mutex> lock(stop_mu_);
    if (!stop_cv_.wait_for(lock, ChronoTimeout(timeout), [&] { return stopped_; })) {
      abort_requested_ = true;
      wakeup_->Notify();
      // The abort cancels the streams and moves what is queued to disk: bounded.
      stop_cv_.wait(lock, [&] { return stopped_; });
    }
  }
  thread_.join();
  finished_ = true;
  finish_result_ = verdict_;
  if (finish_result_.ok() && abort_requested_) {
    finish_result_ = absl::DeadlineExceededError(
        absl::StrCat("Finish gave up after ", absl::FormatDuration(timeout),
                     "; unconfirmed data stays in the backup files"));
  }
  finish_report_ = report_;
  finish_report_.status = finish_result_;
  return finish_report_;
}

}  // namespace sift_stream::engine
