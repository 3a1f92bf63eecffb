#include "engine/metrics_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sift_stream::engine {
namespace {

// One metric family with a single, unlabelled sample. HELP texts are fixed strings without
// backslashes or newlines, so they need no escaping.
class Writer {
 public:
  void Counter(absl::string_view name, absl::string_view help, uint64_t value) {
    Family(name, "counter", help, absl::StrCat(value));
  }
  void Gauge(absl::string_view name, absl::string_view help, uint64_t value) {
    Family(name, "gauge", help, absl::StrCat(value));
  }
  void GaugeSeconds(absl::string_view name, absl::string_view help, absl::Duration value) {
    Family(name, "gauge", help, absl::StrCat(absl::ToDoubleSeconds(value)));
  }
  void CounterSeconds(absl::string_view name, absl::string_view help, double seconds) {
    Family(name, "counter", help, absl::StrCat(seconds));
  }
  std::string Take() { return std::move(out_); }

 private:
  void Family(absl::string_view name, absl::string_view type, absl::string_view help,
              absl::string_view value) {
    absl::StrAppend(&out_, "# HELP sift_stream_", name, " ", help, "\n", "# TYPE sift_stream_",
                    name, " ", type, "\n", "sift_stream_", name, " ", value, "\n");
  }
  std::string out_;
};

void SendSide(const SiftStreamMetrics& m, Writer& w) {
  w.Counter("messages_sent_total", "Messages accepted by Send().", m.messages_sent);
  w.Counter("sent_bytes_total", "Serialized bytes of the messages accepted by Send().",
            m.bytes_sent);
  w.Counter("messages_refused_total",
            "Send() calls refused with ResourceExhausted (send queue or backup disk full).",
            m.messages_refused);
  w.Gauge("send_queue_messages", "Messages waiting for the backup writer.", m.send_queue_depth);
  w.Counter("errors_total", "Errors the stream raised (the last one is on /status).", m.errors);
  w.CounterSeconds("reactor_cpu_seconds_total", "CPU time used by the reactor thread.",
                   static_cast<double>(m.reactor_cpu_ns) / 1e9);
}

void LivePath(const SiftStreamMetrics& m, Writer& w) {
  w.Counter("messages_written_live_total", "Messages handed to the live gRPC stream.",
            m.messages_written_live);
  w.Counter("messages_acknowledged_total", "Messages on live streams Sift acknowledged.",
            m.messages_acknowledged);
  w.Counter("messages_dropped_live_total",
            "Messages dropped from the full live queue (kept on disk, re-ingested).",
            m.messages_dropped_live);
  w.Gauge("live_queue_messages", "Messages waiting for the live stream.", m.live_queue_depth);
  w.Counter("checkpoints_acknowledged_total", "Checkpoints Sift acknowledged on the live stream.",
            m.checkpoints_ok);
  w.Counter("checkpoints_failed_total",
            "Checkpoints not acknowledged live; their backup files are re-ingested.",
            m.checkpoints_failed);
  w.GaugeSeconds("last_checkpoint_duration_seconds",
                 "From the start of the last finished live stream to Sift's verdict on it.",
                 m.last_checkpoint_duration);
  w.Counter("live_streams_failed_total", "Live streams that failed.", m.live_streams_failed);
  w.Counter("ack_timeouts_total", "Live streams cancelled after ack_timeout without progress.",
            m.ack_timeouts);
  w.Counter("live_retries_total", "Live streams started again after a backoff.", m.retries);
  w.GaugeSeconds("live_backoff_seconds", "The backoff before the next live stream (0: none).",
                 m.current_backoff);
}

void Backups(const SiftStreamMetrics& m, const BackupDirUsage& disk, Writer& w) {
  w.Counter("messages_backed_up_total", "Messages written to backup files.",
            m.messages_backed_up);
  w.Counter("backed_up_bytes_total", "Message bytes written to backup files.", m.bytes_backed_up);
  w.Counter("messages_durable_total", "Messages backed up and synced to disk, in send order.",
            m.messages_durable);
  w.Counter("backup_files_created_total", "Backup files created.", m.backup_files_created);
  w.Counter("backup_files_deleted_total", "Backup files deleted once Sift acknowledged them.",
            m.backup_files_deleted);
  w.Counter("backup_rotations_total", "Backup files closed for being full.", m.backup_rotations);
  w.Counter("backup_files_buffered_total",
            "Backup files written through the page cache (backup_dir refuses O_DIRECT).",
            m.backup_files_buffered);
  w.Gauge("backup_disk_full", "1 while the backup disk is full and Send refuses messages.",
          m.backup_disk_full ? 1 : 0);
  w.Counter("backup_disk_full_stalls_total", "Times the backup disk was found full.",
            m.backup_disk_full_stalls);
  if (!disk.known) return;
  w.Gauge("backup_dir_files", "PBFS files in backup_dir (this stream's and leftovers).",
          disk.files);
  w.Gauge("backup_dir_bytes", "Bytes of the PBFS files in backup_dir.", disk.bytes);
}

void MemoryBackups(const SiftStreamMetrics& m, Writer& w) {
  w.Gauge("memory_backup_bytes",
          "Bytes the memory backup holds for checkpoints Sift has not acknowledged.",
          m.memory_backup_bytes);
  w.Gauge("memory_backup_messages", "Messages the memory backup holds.",
          m.memory_backup_messages);
  w.Gauge("memory_backup_full", "1 while the memory backup is full and Send refuses messages.",
          m.memory_backup_full ? 1 : 0);
  w.Counter("memory_backup_full_stalls_total", "Times the memory backup was found full.",
            m.memory_backup_full_stalls);
  w.Counter("memory_backup_messages_lost_total",
            "Messages dropped from memory before Sift acknowledged them.",
            m.memory_backup_messages_lost);
}

void Reingestion(const SiftStreamMetrics& m, Writer& w) {
  w.Counter("messages_reingested_total",
            "Messages Sift acknowledged on re-ingestion streams (recovery included).",
            m.messages_reingested);
  w.Counter("reingest_jobs_done_total", "Re-ingestion jobs finished.", m.reingest_jobs_done);
  w.Counter("reingest_jobs_failed_total", "Re-ingestion jobs that gave up.",
            m.reingest_jobs_failed);
  w.Gauge("reingest_jobs_pending", "Re-ingestion jobs queued or in progress.",
          m.reingest_jobs_pending);
  w.Counter("recovery_files_found_total",
            "Backup files an earlier process left in backup_dir, found at start-up.",
            m.recovery_files_found);
  w.Counter("recovery_files_recovered_total",
            "Start-up recovery files Sift has acknowledged since.", m.backup_files_recovered);
  w.Counter("messages_recovered_total", "Messages of start-up recovery files Sift acknowledged.",
            m.messages_recovered);
  w.Gauge("recovery_files_pending", "Start-up recovery files not acknowledged yet.",
          RecoveryFilesPending(m));
}

}  // namespace

uint64_t MessagesNotDurable(const SiftStreamMetrics& m) {
  return m.messages_sent > m.messages_durable ? m.messages_sent - m.messages_durable : 0;
}

uint64_t RecoveryFilesPending(const SiftStreamMetrics& m) {
  return m.recovery_files_found > m.backup_files_recovered
             ? m.recovery_files_found - m.backup_files_recovered
             : 0;
}

std::string PrometheusText(const SiftStreamMetrics& metrics, const BackupDirUsage& disk) {
  Writer w;
  SendSide(metrics, w);
  LivePath(metrics, w);
  Backups(metrics, disk, w);
  MemoryBackups(metrics, w);
  Reingestion(metrics, w);
  return w.Take();
}

}  // namespace sift_stream::engine
