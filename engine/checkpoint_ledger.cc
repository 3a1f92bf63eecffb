#include "engine/checkpoint_ledger.h"

#include <cassert>
#include <utility>

#include "absl/strings/str_format.h"

namespace sift_stream::engine {

absl::Status CheckpointLedger::End(uint64_t checkpoint) {
  if (checkpoint == open_) {
    EndOpen(/*complete=*/false);
    return absl::OkStatus();
  }
  const uint64_t open = open_;
  marked_.insert(open);
  if (checkpoint < open) {
    return absl::InternalError(absl::StrFormat(
        "backup manager: EndCheckpoint(%d) while checkpoint %d takes messages; no boundary "
        "drawn, checkpoint %d's backup files are kept for re-ingestion",
        checkpoint, open, open));
  }
  EndThrough(checkpoint, /*complete=*/false);
  return absl::InternalError(absl::StrFormat(
      "backup manager: EndCheckpoint(%d) while checkpoint %d takes messages; checkpoint %d "
      "ends here and its backup files are kept for re-ingestion, %d to %d end empty",
      checkpoint, open, open, open + 1, checkpoint));
}

void CheckpointLedger::FinishWriting(std::vector<std::string> files) {
  assert(end_pending() && "FinishWriting without an ended checkpoint being written");
  auto it = ended_.find(writing_);
  assert(it != ended_.end());
  ++writing_;
  it->second.files = std::move(files);
  it->second.closed = true;
  if (it->second.complete) Resolve(it);
}

absl::Status CheckpointLedger::NeedsReingestion(uint64_t checkpoint) {
  if (auto it = ended_.find(checkpoint); it != ended_.end()) {
    it->second.reingest = true;
    return absl::OkStatus();
  }
  if (checkpoint < open_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "backup manager: CheckpointNeedsReingestion for checkpoint %d came after its "
        "CheckpointComplete; its backup files were already deleted or kept, not re-ingested",
        checkpoint));
  }
  marked_.insert(checkpoint);
  return absl::OkStatus();
}

absl::Status CheckpointLedger::Complete(uint64_t checkpoint) {
  if (auto it = ended_.find(checkpoint); it != ended_.end()) {
    it->second.complete = true;
    if (it->second.closed) Resolve(it);
    return absl::OkStatus();
  }
  if (checkpoint < open_) return absl::OkStatus();  // A repeat: resolved already.
  if (checkpoint == open_) {
    EndOpen(/*complete=*/true);
    return absl::OkStatus();
  }
  // The caller counts checkpoints differently: nobody has acknowledged the messages held as
  // checkpoint open_, so they must be streamed again, not deleted.
  const uint64_t open = open_;
  marked_.insert(open);
  EndThrough(checkpoint, /*complete=*/true);
  return absl::InternalError(absl::StrFormat(
      "backup manager: CheckpointComplete for checkpoint %d while %d is the next to end; "
      "keeping checkpoint %d's backup files for re-ingestion",
      checkpoint, open, open));
}

std::optional<CheckpointDisposal> CheckpointLedger::TakeDisposal() {
  if (disposals_.empty()) return std::nullopt;
  CheckpointDisposal disposal = std::move(disposals_.front());
  disposals_.pop_front();
  return disposal;
}

void CheckpointLedger::EndOpen(bool complete) {
  Ended& ended = ended_[open_];
  ended.reingest = marked_.erase(open_) > 0;
  ended.complete = complete;
  ++open_;
}

void CheckpointLedger::EndThrough(uint64_t last, bool complete) {
  while (open_ <= last) EndOpen(complete);
}

void CheckpointLedger::Resolve(std::map<uint64_t, Ended>::iterator it) {
  CheckpointDisposal disposal;
  disposal.checkpoint = it->first;
  disposal.files = std::move(it->second.files);
  disposal.reingest = it->second.reingest;
  ended_.erase(it);
  disposals_.push_back(std::move(disposal));
}

}  // namespace sift_stream::engine
