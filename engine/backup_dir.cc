#include "engine/backup_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/ring.h"

namespace sift_stream::engine {
namespace {

absl::Status ProbeWritable(int dir_fd, const std::string& dir, const std::string& probe) {
  const int fd =
      openat(dir_fd, probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    absl::Status status =
        io::ErrnoToStatus(error, "create a probe file in backup directory", dir);
    if (!absl::IsPermissionDenied(status)) return status;
    return absl::PermissionDeniedError(
        absl::StrCat("backup directory ", dir, " is not writable (", std::strerror(error),
                     "): choose a backup_dir this process can write to"));
  }
  close(fd);
  if (unlinkat(dir_fd, probe.c_str(), 0) != 0) {
    return io::ErrnoToStatus(errno, "remove the probe file from backup directory", dir);
  }
  return absl::OkStatus();
}

}  // namespace

std::string WithoutTrailingSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

absl::StatusOr<int> OpenBackupDir(const std::string& dir, absl::string_view probe_name) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          "backup directory ", dir, " does not exist: create it or choose another backup_dir"));
    }
    return io::ErrnoToStatus(errno, "look at backup directory", dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backup_dir ", dir, " is not a directory: choose a directory for the backup files"));
  }
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io::ErrnoToStatus(errno, "open backup directory", dir);
  if (absl::Status s = ProbeWritable(fd, dir, std::string(probe_name)); !s.ok()) {
    close(fd);
    return s;
  }
  return fd;
}

}  // namespace sift_stream::engine
