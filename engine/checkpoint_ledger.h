// engine/checkpoint_ledger.h — which checkpoint a backed-up message belongs to, and what
// becomes of each ended checkpoint's files.
//
// The bookkeeping half of the backup manager (engine/backup_manager.h), kept apart because it
// decides what may be deleted: it does no I/O and publishes nothing. The manager tells it
// about the checkpoint boundary and the outcomes, and acts on what it answers — seals the
// chunk of an ended checkpoint, closes its last file, and carries out the disposals it hands
// back (publish kReingestBackups, or unlink, or keep).
//
// A checkpoint goes through three stages:
//
//   open      messages appended now join it (open());
//   ended     End() drew its boundary; its last files may still be being written
//             (writing() <= it), then they are closed (FinishWriting) and it waits, closed,
//             for its outcome;
//   resolved  kCheckpointComplete arrived and its files are closed: a CheckpointDisposal
//             names them and says whether to re-ingest them (kCheckpointNeedsReingestion came
//             first). The ledger forgets it.
//
// Several ended checkpoints may wait at once; outcomes are matched by number, in any order.
// Numbers the caller gets wrong are bugs: they come back as an error status for the caller to
// publish (kErrorSignal), and the ledger errs on the side of keeping files: whatever checkpoint
// might hold messages nobody acknowledged is marked for re-ingestion, never deleted.
//
// Not thread-safe; the backup manager uses it on the reactor thread.

#ifndef SIFT_STREAM_ENGINE_CHECKPOINT_LEDGER_H_
#define SIFT_STREAM_ENGINE_CHECKPOINT_LEDGER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sift_stream::engine {

// What to do with a resolved checkpoint's files.
struct CheckpointDisposal {
  uint64_t checkpoint = 0;
  std::vector<std::string> files;  // In write order; empty for a checkpoint without messages.
  bool reingest = false;           // Hand them to re-ingestion; else delete (or retain) them.
};

class CheckpointLedger {
 public:
  // The checkpoint messages appended now belong to. Starts at 1.
  uint64_t open() const { return open_; }
  // The oldest checkpoint whose files are not all closed yet: open(), or an ended checkpoint
  // whose last file is still being written or closed. The manager's files belong to it.
  uint64_t writing() const { return writing_; }
  // An end was drawn and its checkpoint's files are not closed yet.
  bool end_pending() const { return writing_ < open_; }
  // Ended checkpoints not yet resolved (their files closed or not).
  size_t waiting() const { return ended_.size(); }

  // The boundary (IngestionOptions::on_checkpoint_end): ends `checkpoint`, which must be
  // open(). Otherwise returns an error to publish and, to lose nothing: for a number ahead of
  // open(), ends open() marked for re-ingestion and the numbers up to `checkpoint` as empty
  // checkpoints, so that numbering agrees again; for a number behind, draws no boundary and
  // marks open() for re-ingestion (its messages may be ones the caller counts in an older,
  // already resolved checkpoint).
  absl::Status End(uint64_t checkpoint);

  // Requires end_pending(): the files of checkpoint writing() are all closed (`files`, in
  // write order). writing() moves on; the checkpoint is resolved now if its outcome came.
  void FinishWriting(std::vector<std::string> files);

  // kCheckpointNeedsReingestion{checkpoint}: marks an ended or a future checkpoint. An error
  // if `checkpoint` was resolved already (its files were disposed of, not re-ingested).
  absl::Status NeedsReingestion(uint64_t checkpoint);

  // kCheckpointComplete{checkpoint}: resolves an ended checkpoint once its files are closed.
  // A repeat is ignored. A checkpoint still open is ended first (for a caller that draws no
  // boundary with End()); a number ahead of open() is an error, handled as in End() with all
  // the numbers up to `checkpoint` resolved.
  absl::Status Complete(uint64_t checkpoint);

  // The next resolved checkpoint for the caller to dispose of, oldest first.
  std::optional<CheckpointDisposal> TakeDisposal();

 private:
  struct Ended {
    std::vector<std::string> files;  // Set by FinishWriting.
    bool closed = false;             // FinishWriting ran: the files are final.
    bool reingest = false;
    bool complete = false;
  };

  // Ends open() at this point; `complete` records that its outcome is known already.
  void EndOpen(bool complete);
  // Ends every checkpoint from open() through `last` (all but the first are empty).
  void EndThrough(uint64_t last, bool complete);
  void Resolve(std::map<uint64_t, Ended>::iterator it);

  uint64_t open_ = 1;
  uint64_t writing_ = 1;
  std::set<uint64_t> marked_;  // Open or future checkpoints marked for re-ingestion.
  std::map<uint64_t, Ended> ended_;
  std::deque<CheckpointDisposal> disposals_;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_CHECKPOINT_LEDGER_H_
