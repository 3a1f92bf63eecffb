#include "engine/memory_backup.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/pbfs_format.h"

namespace sift_stream::engine {

const char* MemoryBackupStateName(MemoryBackup::State state) {
  switch (state) {
    case MemoryBackup::State::kTaking:
      return "taking";
    case MemoryBackup::State::kFull:
      return "full";
    case MemoryBackup::State::kShutDown:
      return "shut down";
  }
  return "?";
}

MemoryBackup::MemoryBackup(ControlBus& bus, MemoryBackupPolicy policy)
    : bus_(bus),
      policy_(policy),
      checkpoint_max_bytes_(policy.checkpoint_max_bytes > 0 ? policy.checkpoint_max_bytes
                                                            : policy.max_bytes / 4),
      accounts_(std::make_shared<MemoryBackupAccounts>()),
      self_(std::make_shared<MemoryBackup*>(this)) {
  bus_.Subscribe([self = self_](const ControlMessage& message) {
    if (*self != nullptr) (*self)->OnControl(message);
  });
}

MemoryBackup::~MemoryBackup() {
  *self_ = nullptr;
  SealChunk();  // So that the open chunk's messages are counted as lost like the rest.
  chunks_.clear();
}

bool MemoryBackup::HasRoomFor(size_t message_bytes) const {
  const uint64_t need = io::kPbfsFrameHeaderBytes + message_bytes +
                        (encoder_.empty() ? io::kPbfsChunkHeaderBytes : 0);
  return state_ != State::kShutDown && accounts_->bytes_held() + need <= policy_.max_bytes;
}

absl::Status MemoryBackup::Append(absl::string_view serialized_message) {
  if (state_ == State::kShutDown) {
    return absl::FailedPreconditionError("memory backup: shut down, no more messages");
  }
  if (serialized_message.size() > io::kPbfsMaxMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory backup: a message of ", serialized_message.size(), " bytes cannot be framed"));
  }
  const uint64_t open = ledger_.open();
  if (!HasRoomFor(serialized_message.size())) {
    state_ = State::kFull;
    ++metrics_.full_refusals;
    // The open checkpoint can only be freed once it has ended and Sift acknowledged it.
    if (open_bytes_ > 0 && !full_signaled_) Signal(ControlKind::kBackupFull, open);
    return absl::ResourceExhaustedError(absl::StrCat(
        "the memory backup is full (", accounts_->bytes_held(), " of its ", policy_.max_bytes,
        " bytes hold messages Sift has not acknowledged)"));
  }
  state_ = State::kTaking;
  if (encoder_.empty()) encoder_checkpoint_ = open;
  const bool was_empty = encoder_.empty();
  const size_t before = encoder_.size_bytes();
  if (absl::Status added = encoder_.Add(serialized_message); !added.ok()) return added;
  // An empty encoder's chunk header is counted with its first message.
  const uint64_t taken = encoder_.size_bytes() - (was_empty ? 0 : before);
  accounts_->Hold(taken, 1);
  open_bytes_ += taken;
  ++metrics_.messages_backed_up;
  metrics_.bytes_backed_up += taken;
  if (encoder_.size_bytes() >= policy_.chunk_bytes) SealChunk();
  if (open_bytes_ >= checkpoint_max_bytes_ && !full_signaled_) {
    Signal(ControlKind::kBackupFull, open);
  }
  return absl::OkStatus();
}

void MemoryBackup::EndCheckpoint(uint64_t checkpoint) {
  if (absl::Status error = ledger_.End(checkpoint); !error.ok()) {
    Signal(ControlKind::kErrorSignal, checkpoint, std::move(error));
  }
  AfterLedgerChange();
}

void MemoryBackup::OnControl(const ControlMessage& message) {
  absl::Status error;
  switch (message.kind) {
    case ControlKind::kCheckpointComplete:
      error = ledger_.Complete(message.checkpoint);
      break;
    case ControlKind::kCheckpointNeedsReingestion:
      error = ledger_.NeedsReingestion(message.checkpoint);
      if (error.ok() && !message.only_messages.empty()) {
        only_messages_[message.checkpoint] = message.only_messages;
      }
      break;
    case ControlKind::kShutdown:
      state_ = State::kShutDown;
      break;
    case ControlKind::kBackupFull:
    case ControlKind::kReingestBackups:
    case ControlKind::kErrorSignal:
      return;  // For the other tasks (and partly our own).
  }
  if (!error.ok()) Signal(ControlKind::kErrorSignal, message.checkpoint, std::move(error));
  AfterLedgerChange();
}

void MemoryBackup::AfterLedgerChange() {
  // The boundary is here: no later message may join the ended checkpoint's chunk.
  if (!encoder_.empty() && encoder_checkpoint_ < ledger_.open()) SealChunk();
  if (bytes_checkpoint_ != ledger_.open()) {  // A new checkpoint is open.
    bytes_checkpoint_ = ledger_.open();
    open_bytes_ = 0;
    full_signaled_ = false;
  }
  // Nothing to write or close: an ended checkpoint's chunks are final at once.
  while (ledger_.end_pending()) ledger_.FinishWriting({});
  while (std::optional<CheckpointDisposal> resolved = ledger_.TakeDisposal()) {
    auto it = chunks_.find(resolved->checkpoint);
    if (it == chunks_.end()) continue;  // No messages in it.
    std::vector<std::shared_ptr<MemoryChunk>> chunks = std::move(it->second);
    chunks_.erase(it);
    if (resolved->reingest) {
      ++metrics_.checkpoints_reingested;
      ControlMessage message;
      message.kind = ControlKind::kReingestBackups;
      message.checkpoint = resolved->checkpoint;
      message.memory_chunks = std::move(chunks);  // Freed by re-ingestion once acknowledged.
      if (auto only = only_messages_.find(resolved->checkpoint); only != only_messages_.end()) {
        NoteLiveAcknowledgements(message.memory_chunks, only->second);
        message.only_messages = std::move(only->second);  // Chunks hold send order too.
        only_messages_.erase(only);
      }
      bus_.Publish(std::move(message));
    } else {
      ++metrics_.checkpoints_freed;
      for (const std::shared_ptr<MemoryChunk>& chunk : chunks) chunk->MarkAcknowledged();
    }
  }
}

// Each chunk covers the next run of the checkpoint's positions, in send order: what of it is
// outside `only` Sift acknowledged live, and is not lost if the chunk is dropped unconfirmed.
void MemoryBackup::NoteLiveAcknowledgements(
    const std::vector<std::shared_ptr<MemoryChunk>>& chunks,
    const std::vector<std::pair<uint64_t, uint64_t>>& only) {
  uint64_t first = 0;
  for (const std::shared_ptr<MemoryChunk>& chunk : chunks) {
    const uint64_t end = first + chunk->messages();
    uint64_t wanted = 0;
    for (const auto& [from, to] : only) {
      const uint64_t lo = std::max(from, first), hi = std::min(to, end);
      if (lo < hi) wanted += hi - lo;
    }
    chunk->MarkAcknowledgedBut(wanted);
    first = end;
  }
}

void MemoryBackup::SealChunk() {
  if (encoder_.empty()) return;
  const size_t messages = encoder_.message_count();
  chunks_[encoder_checkpoint_].push_back(std::make_shared<MemoryChunk>(
      accounts_, encoder_checkpoint_, std::string(encoder_.Seal()), messages));
  encoder_.Reset();
}

uint64_t MemoryBackup::oldest_held_checkpoint() const {
  const uint64_t sealed = accounts_->oldest_chunk_checkpoint();
  if (encoder_.empty()) return sealed;
  return sealed == 0 ? encoder_checkpoint_ : std::min(sealed, encoder_checkpoint_);
}

MemoryBackupMetrics MemoryBackup::metrics() const {
  MemoryBackupMetrics m = metrics_;
  m.bytes_held = accounts_->bytes_held();
  m.messages_held = accounts_->messages_held();
  m.messages_lost = accounts_->messages_lost();
  return m;
}

void MemoryBackup::Signal(ControlKind kind, uint64_t checkpoint, absl::Status error) {
  if (kind == ControlKind::kBackupFull) {
    full_signaled_ = true;
    ++metrics_.backup_full_signals;
  }
  ControlMessage message;
  message.kind = kind;
  message.checkpoint = checkpoint;
  message.error = std::move(error);
  bus_.Publish(std::move(message));
}

}  // namespace sift_stream::engine
