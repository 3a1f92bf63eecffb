// engine/backup_dir.h — checks that a backup directory can take backup files, and opens it.
//
// The backup manager (engine/backup_manager.h) calls this once, before the first message, so
// that a wrong backup_dir is a clear error at start-up rather than a failed write later. The
// check is done by trying, not by reading mode bits: root ignores them, and a read-only mount
// or an ACL says no only when asked.

#ifndef SIFT_STREAM_ENGINE_BACKUP_DIR_H_
#define SIFT_STREAM_ENGINE_BACKUP_DIR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::engine {

// "dir/" and "dir" name the same directory; file names are built as dir + "/" + name.
std::string WithoutTrailingSlashes(std::string dir);

// Returns an O_RDONLY, close-on-exec descriptor of `dir` (the caller closes it) once `dir` is
// known to exist, to be a directory and to be writable: a file named `probe_name` is created in
// it and removed again. Errors name the directory and say what to do: NotFound if it does not
// exist, FailedPrecondition if it is not a directory, PermissionDenied if it is not writable,
// otherwise as io::ErrnoToStatus.
absl::StatusOr<int> OpenBackupDir(const std::string& dir, absl::string_view probe_name);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_BACKUP_DIR_H_
