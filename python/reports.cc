// python/reports.cc — see reports.h.

#include "python/reports.h"

#include <pybind11/stl.h>

#include "absl/time/time.h"
#include "python/errors.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;

py::dict KeptToPython(const KeptCheckpoint& kept) {
  py::dict d;
  d["checkpoint"] = kept.checkpoint;
  d["messages"] = kept.messages;
  d["messages_on_disk"] = kept.messages_on_disk;
  d["messages_acknowledged_live"] = kept.messages_acknowledged_live;
  d["files"] = kept.files;
  return d;
}

}  // namespace

py::dict MetricsToPython(const SiftStreamMetrics& m) {
  py::dict d;
  d["messages_sent"] = m.messages_sent;
  d["bytes_sent"] = m.bytes_sent;
  d["messages_refused"] = m.messages_refused;
  d["messages_written_live"] = m.messages_written_live;
  d["messages_acknowledged"] = m.messages_acknowledged;
  d["messages_dropped_live"] = m.messages_dropped_live;
  d["messages_backed_up"] = m.messages_backed_up;
  d["bytes_backed_up"] = m.bytes_backed_up;
  d["messages_durable"] = m.messages_durable;
  d["messages_reingested"] = m.messages_reingested;
  d["recovery_files_found"] = m.recovery_files_found;
  d["backup_files_recovered"] = m.backup_files_recovered;
  d["messages_recovered"] = m.messages_recovered;
  d["checkpoints_ok"] = m.checkpoints_ok;
  d["checkpoints_failed"] = m.checkpoints_failed;
  d["last_checkpoint_duration_s"] = absl::ToDoubleSeconds(m.last_checkpoint_duration);
  d["live_streams_failed"] = m.live_streams_failed;
  d["ack_timeouts"] = m.ack_timeouts;
  d["retries"] = m.retries;
  d["current_backoff_s"] = absl::ToDoubleSeconds(m.current_backoff);
  d["reingest_jobs_done"] = m.reingest_jobs_done;
  d["reingest_jobs_failed"] = m.reingest_jobs_failed;
  d["reingest_jobs_pending"] = m.reingest_jobs_pending;
  d["backup_files_created"] = m.backup_files_created;
  d["backup_files_deleted"] = m.backup_files_deleted;
  d["backup_rotations"] = m.backup_rotations;
  d["backup_files_buffered"] = m.backup_files_buffered;
  d["backup_disk_full"] = m.backup_disk_full;
  d["backup_disk_full_stalls"] = m.backup_disk_full_stalls;
  d["memory_backup_bytes"] = m.memory_backup_bytes;
  d["memory_backup_messages"] = m.memory_backup_messages;
  d["memory_backup_full"] = m.memory_backup_full;
  d["memory_backup_full_stalls"] = m.memory_backup_full_stalls;
  d["memory_backup_messages_lost"] = m.memory_backup_messages_lost;
  d["send_queue_depth"] = m.send_queue_depth;
  d["live_queue_depth"] = m.live_queue_depth;
  d["errors"] = m.errors;
  d["reactor_cpu_ns"] = m.reactor_cpu_ns;
  d["last_error"] = m.last_error;
  return d;
}

py::dict ReportToPython(const FinishReport& report, absl::string_view secret) {
  py::dict d;
  d["ok"] = report.status.ok();
  d["error"] = ErrorObject(report.status, secret);
  d["messages_sent"] = report.messages_sent;
  d["messages_acknowledged"] = report.messages_acknowledged;
  d["checkpoints_acknowledged"] = report.checkpoints_acknowledged;
  d["checkpoints_reingested"] = report.checkpoints_reingested;
  py::list kept;
  for (const KeptCheckpoint& checkpoint : report.kept) kept.append(KeptToPython(checkpoint));
  d["kept"] = kept;
  d["messages_on_disk"] = report.messages_on_disk;
  d["messages_unprotected"] = report.messages_unprotected;
  d["leftover_files"] = report.leftover_files;
  d["damaged_files"] = report.damaged_files;
  d["undeleted_files"] = report.undeleted_files;
  return d;
}

py::list CheckpointsToPython(const std::vector<CheckpointOutcome>& checkpoints) {
  py::list out;
  for (const CheckpointOutcome& c : checkpoints) {
    py::dict d;
    d["checkpoint"] = c.checkpoint;
    d["messages"] = c.messages;
    d["ended"] = absl::ToDoubleSeconds(c.ended - absl::UnixEpoch());
    d["duration_s"] = absl::ToDoubleSeconds(c.duration);
    d["acknowledged"] = c.acknowledged;
    d["detail"] = c.detail;
    out.append(std::move(d));
  }
  return out;
}

}  // namespace sift_stream::python
