// engine/backup_dir.h — checks that a backup directory can take backup files, and opens it.
//
// The backup manager (engine/backup_manager.h) calls this once, before the first message, so
// that a wrong backup_dir is a clear error at start-up rather than a failed write later. The
// check is done by trying, not by reading mode bits: root ignores them, and a read-only mount
// or an ACL says no only when asked.

#ifndef SIFT_STREAM_ENGINE_BACKUP_DIR_H_
#define SIFT_STREAM_ENGINE_BACKUP_DIR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::engine {

// "dir/" and "dir" name the same directory; file names are built as dir + "/" + name.
std::string WithoutTrailingSlashes(std::string dir);

// `dir` as an absolute path: relative ones are taken from the current directory now, so that
// a later chdir() (daemons do one) cannot send backup files, recovery or deletion elsewhere.
absl::StatusOr<std::string> AbsoluteBackupDir(const std::string& dir);

// Returns an O_RDONLY, close-on-exec descriptor of `dir` (the caller closes it) once `dir` is
// known to exist, to be a directory and to be writable: a file named `probe_name` is created in
// it and removed again. Errors name the directory and say what to do: NotFound if it does not
// exist, FailedPrecondition if it is not a directory, PermissionDenied if it is not writable,
// otherwise as io::ErrnoToStatus.
absl::StatusOr<int> OpenBackupDir(const std::string& dir, absl::string_view probe_name);

// The lock file every stream holds in its backup directory.
inline constexpr char kBackupDirLockName[] = "sift_stream.lock";

// Takes an exclusive flock on <dir>/sift_stream.lock (created with mode 0600; it holds the
// owner's pid, for the error message of the next one). Returns the descriptor to keep open:
// closing it releases the lock, and the kernel releases it when the process dies, however it
// dies, so a dead process's lock never blocks recovery. FailedPrecondition, naming the
// holder's pid, if another stream (in this or another process) holds it.
absl::StatusOr<int> LockBackupDir(int dir_fd, const std::string& dir);

// Checks `dir` (as OpenBackupDir) and takes its lock (as LockBackupDir), returning the lock's
// descriptor: for Build(), so that a wrong or busy backup_dir is reported before any call to
// Sift. Close it before the stream's backup manager takes the lock for good.
absl::StatusOr<int> CheckAndLockBackupDir(const std::string& dir, absl::string_view probe_name);

// A retained backup file whose messages Sift acknowledged gets an empty marker file beside it,
// "<file>.acked", so that start-up recovery leaves it alone.
std::string AckMarkerPath(absl::string_view backup_file);
absl::Status WriteAckMarker(const std::string& backup_file);

// Orders backup files (names or paths) as they were written: by stream id, then by checkpoint
// and file number compared as numbers, since they outgrow their zero padding (a million
// checkpoints is 11.6 days at one a second). Names of another shape sort after, by text.
// Stream ids start with the stream's start time, so streams sort in the order they ran.
bool BackupFileWrittenBefore(absl::string_view a, absl::string_view b);

// The backup files in `dir` that start-up recovery must send again: regular files named
// "*.pbfs" without an ".acked" marker, except those whose name starts with
// "<own_stream_id>-". Full paths, in write order (BackupFileWrittenBefore).
std::vector<std::string> LeftoverBackupFiles(const std::string& dir,
                                             absl::string_view own_stream_id);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_BACKUP_DIR_H_
