#include "engine/finish_report.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/backup_dir.h"

namespace sift_stream::engine {

void OutcomeLedger::Ended(uint64_t checkpoint, uint64_t end) {
  Checkpoint& c = open_or_failed_[checkpoint];
  c.start = std::min(last_end_, end);
  c.end = end;
  last_end_ = std::max(last_end_, end);
}

void OutcomeLedger::NeedsReingestion(uint64_t checkpoint) {
  open_or_failed_[checkpoint].failed = true;
}

void OutcomeLedger::Complete(uint64_t checkpoint, uint64_t acknowledged_live) {
  auto it = open_or_failed_.find(checkpoint);
  if (it == open_or_failed_.end() || it->second.resolved) return;  // Unknown, or a repeat.
  Checkpoint& c = it->second;
  c.resolved = true;
  c.acknowledged_live = acknowledged_live;
  if (c.failed) return;
  // Every message was written on a stream Sift ended OK; count what it acknowledged, which
  // is the whole checkpoint (a shortfall would have failed it).
  acknowledged_ += std::min(acknowledged_live, c.end - c.start);
  if (c.end > c.start) ++checkpoints_acknowledged_;
  open_or_failed_.erase(it);
}

FinishReport OutcomeLedger::Report(const Inputs& inputs) const {
  FinishReport report;
  report.messages_sent = inputs.messages_sent;
  report.messages_acknowledged = acknowledged_;
  report.checkpoints_acknowledged = checkpoints_acknowledged_;
  std::map<uint64_t, std::vector<std::string>> files_of;
  for (const std::string& file : inputs.unconfirmed_files) {
    files_of[CheckpointOfBackupFile(file)].push_back(file);
  }
  for (const auto& [checkpoint, c] : open_or_failed_) {
    // Unresolved at the end (not expected: the reactor stops once all are) counts as failed.
    const uint64_t messages = c.end - c.start;
    const uint64_t acknowledged_live = std::min(c.acknowledged_live, messages);
    auto files = files_of.find(checkpoint);
    const bool has_files = files != files_of.end() && !files->second.empty();
    const uint64_t durable_end = std::min(c.end, inputs.durable_messages);
    const uint64_t durable = durable_end > c.start ? durable_end - c.start : 0;
    if (has_files) {  // Sift did not confirm these files: they stay, and say so.
      KeptCheckpoint kept;
      kept.checkpoint = checkpoint;
      kept.messages = messages;
      kept.messages_on_disk = durable;
      kept.messages_acknowledged_live = acknowledged_live;
      kept.files = files->second;
      report.kept.push_back(std::move(kept));
      report.messages_acknowledged += acknowledged_live;
      report.messages_on_disk += durable;
      report.messages_unprotected += messages - durable;
    } else if (inputs.reingests && durable > 0) {
      // Its files are gone or marked: re-ingestion deletes or marks only what Sift
      // acknowledged, and it sent the durable part (the whole checkpoint unless the disk
      // failed).
      report.messages_acknowledged += durable;
      report.messages_unprotected += messages - durable;
      ++report.checkpoints_acknowledged;
      ++report.checkpoints_reingested;
    } else {  // No files: only what the live stream got acknowledged survives.
      report.messages_acknowledged += acknowledged_live;
      report.messages_unprotected += messages - acknowledged_live;
    }
  }
  // Messages in no ended checkpoint (not expected: the last checkpoint ends at shutdown).
  if (inputs.messages_sent > last_end_) {
    report.messages_unprotected += inputs.messages_sent - last_end_;
  }
  return report;
}

uint64_t CheckpointOfBackupFile(const std::string& path) {
  absl::string_view name = path;
  if (const size_t slash = name.rfind('/'); slash != absl::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  if (!absl::ConsumeSuffix(&name, ".pbfs")) return 0;
  const size_t file_dash = name.rfind('-');
  if (file_dash == absl::string_view::npos || file_dash == 0) return 0;
  const size_t checkpoint_dash = name.rfind('-', file_dash - 1);
  if (checkpoint_dash == absl::string_view::npos) return 0;
  uint64_t checkpoint = 0;
  const absl::string_view digits =
      name.substr(checkpoint_dash + 1, file_dash - checkpoint_dash - 1);
  return absl::SimpleAtoi(digits, &checkpoint) ? checkpoint : 0;
}

std::vector<std::string> UnconfirmedFilesOfStream(const std::string& dir,
                                                  const std::string& stream_id) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  const std::string prefix = stream_id + "-";
  while (dirent* entry = readdir(d)) {
    if (!absl::StartsWith(entry->d_name, prefix) || !absl::EndsWith(entry->d_name, ".pbfs")) {
      continue;
    }
    std::string path = absl::StrCat(dir, "/", entry->d_name);
    struct stat marker;
    if (stat(AckMarkerPath(path).c_str(), &marker) == 0) continue;  // Sift acknowledged it.
    files.push_back(std::move(path));
  }
  closedir(d);
  std::sort(files.begin(), files.end(), BackupFileWrittenBefore);
  return files;
}

}  // namespace sift_stream::engine
