// engine/finish_report.h — what Finish can prove: which messages Sift acknowledged and which
// are only in backup files, for callers who keep their own books (SiftStream::FinishWithReport).
//
// Every message Send() accepted belongs to exactly one checkpoint, and a checkpoint's
// messages are one contiguous run of the send order: the reactor records where each
// checkpoint ends in that order (IngestionOptions::on_checkpoint_end), so it knows how many
// messages each checkpoint holds without reading a file back. Sift's verdicts then sort the
// checkpoints:
//
//   acknowledged   kCheckpointComplete without kCheckpointNeedsReingestion: Sift
//                  acknowledged every message on the live stream. Counted, then forgotten.
//   re-ingested    needed re-ingestion, and every file of it is gone or carries an ".acked"
//                  marker: the re-ingestion task deletes or marks files only once Sift
//                  acknowledged the stream that carried them.
//   kept           needed re-ingestion and some file of it is still on disk unconfirmed
//                  (NoRetries, or re-ingestion gave up or ran out of time): reported with its
//                  files and counts.
//   unprotected    needed re-ingestion and is not on disk (the backup disk failed, or
//                  live-only mode): neither Sift nor the disk holds it.
//
// Counts only ever come from positive evidence (a stream Sift ended OK, a durable prefix on
// disk), so the report may claim less than happened (a stream Sift committed but whose answer
// the client never saw) but never more. Files are named per checkpoint, not counted per file.
//
// The ledger runs on the reactor thread only; the report it builds is a plain value.

#ifndef SIFT_STREAM_ENGINE_FINISH_REPORT_H_
#define SIFT_STREAM_ENGINE_FINISH_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sift_stream {

// A checkpoint Sift did not acknowledge whole, whose backup files stay on disk.
struct KeptCheckpoint {
  uint64_t checkpoint = 0;
  uint64_t messages = 0;  // Send() put this many into the checkpoint.
  // Of those, how many the files hold durably: all of them unless the backup disk failed.
  uint64_t messages_on_disk = 0;
  // Of those, how many Sift acknowledged on the live stream anyway (the checkpoint failed
  // because others were dropped from the full live queue): sending the files again sends
  // these twice. Usually 0.
  uint64_t messages_acknowledged_live = 0;
  // "<dir>/<stream_id>-<checkpoint>-<file>.pbfs", in write order.
  std::vector<std::string> files;
};

// What FinishWithReport() returns. messages_sent is split without overlap into
// messages_acknowledged, the kept checkpoints' messages less their messages_acknowledged_live,
// and messages_unprotected (which may hold a few messages Sift acknowledged live in a
// checkpoint whose files were also lost).
struct FinishReport {
  absl::Status status;  // What Finish() returns.
  uint64_t messages_sent = 0;  // Accepted by Send(), TrySend() and FlowWriters.
  // Acknowledged by Sift, on live streams or re-ingestion streams; each message once.
  uint64_t messages_acknowledged = 0;
  uint64_t checkpoints_acknowledged = 0;  // Live or re-ingested, with at least one message.
  uint64_t checkpoints_reingested = 0;    // Of those, acknowledged by re-ingestion.
  std::vector<KeptCheckpoint> kept;       // By checkpoint number.
  uint64_t messages_on_disk = 0;          // Sum of kept[].messages_on_disk.
  uint64_t messages_unprotected = 0;      // Neither acknowledged nor on disk: maybe lost.
  // Files earlier processes left in backup_dir that start-up recovery could not confirm
  // (their messages are not counted above: they are not this stream's). Empty with NoRetries,
  // which leaves such files alone.
  std::vector<std::string> leftover_files;
  // Backup files (this stream's or leftovers) that re-ingestion found damaged: every intact
  // message in them was re-ingested, but what the damaged bytes held cannot be read. They are
  // kept, with an ".acked" marker once the rest was confirmed, for `pbfs inspect`.
  std::vector<std::string> damaged_files;
  // Files Sift acknowledged whose deletion failed (Metrics().last_error says why). Their data
  // is in Sift; the next stream on backup_dir sends them again (duplicates) and deletes them.
  std::vector<std::string> undeleted_files;
};

namespace engine {

// Reactor thread only. See the file comment.
class OutcomeLedger {
 public:
  // Checkpoint `checkpoint` ended after the first `end` messages of the send order.
  void Ended(uint64_t checkpoint, uint64_t end);
  void NeedsReingestion(uint64_t checkpoint);
  // kCheckpointComplete, with ControlMessage::messages_acknowledged.
  void Complete(uint64_t checkpoint, uint64_t acknowledged_live);

  struct Inputs {
    uint64_t messages_sent = 0;
    // The backup's durable prefix of the send order (0 without backups).
    uint64_t durable_messages = 0;
    // This stream's files in the backup directory with no ".acked" marker, sorted.
    std::vector<std::string> unconfirmed_files;
    // The stream has a re-ingestion task (a failed checkpoint whose files are gone was
    // re-ingested, not lost).
    bool reingests = false;
  };
  FinishReport Report(const Inputs& inputs) const;

 private:
  struct Checkpoint {
    uint64_t start = 0;
    uint64_t end = 0;
    bool failed = false;
    bool resolved = false;
    uint64_t acknowledged_live = 0;
  };
  uint64_t last_end_ = 0;
  // Ended, not yet resolved, or resolved as failed; acknowledged ones are only counted.
  std::map<uint64_t, Checkpoint> open_or_failed_;
  uint64_t acknowledged_ = 0;
  uint64_t checkpoints_acknowledged_ = 0;
};

// The checkpoint number in a backup file's name "<stream_id>-<checkpoint>-<file>.pbfs", or 0.
uint64_t CheckpointOfBackupFile(const std::string& path);

// Inputs::unconfirmed_files: "<dir>/<stream_id>-*.pbfs" without an ".acked" marker, sorted.
std::vector<std::string> UnconfirmedFilesOfStream(const std::string& dir,
                                                  const std::string& stream_id);

}  // namespace engine
}  // namespace sift_stream

#endif  // SIFT_STREAM_ENGINE_FINISH_REPORT_H_
