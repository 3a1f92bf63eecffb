#include "engine/backup_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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

std::string ReadHolderPid(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "unknown";
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buffer, n)), &pid)) {
    return "unknown";
  }
  return absl::StrCat(pid);
}

}  // namespace

std::string WithoutTrailingSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

absl::StatusOr<std::string> AbsoluteBackupDir(const std::string& dir) {
  if (!dir.empty() && dir.front() == '/') return WithoutTrailingSlashes(dir);
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) {
    return io::ErrnoToStatus(errno, "find the current directory for the relative backup_dir",
                             dir);
  }
  const absl::string_view base = absl::string_view(cwd) == "/" ? "" : cwd;
  return WithoutTrailingSlashes(absl::StrCat(base, "/", dir));
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

absl::StatusOr<int> LockBackupDir(int dir_fd, const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kBackupDirLockName);
  const int fd = openat(dir_fd, kBackupDirLockName, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return io::ErrnoToStatus(errno, "create the lock file", path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      const std::string holder = ReadHolderPid(fd);
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat(
          "backup directory ", dir, " is in use by another live stream (pid ", holder,
          ", lock file ", path, "): give each stream a backup_dir of its own, or stop the "
          "other one first"));
    }
    close(fd);
    return io::ErrnoToStatus(error, "lock", path);
  }
  // The pid only serves the next stream's error message: a full disk must not stop a start.
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

absl::StatusOr<int> CheckAndLockBackupDir(const std::string& dir, absl::string_view probe_name) {
  absl::StatusOr<int> dir_fd = OpenBackupDir(dir, probe_name);
  if (!dir_fd.ok()) return dir_fd.status();
  absl::StatusOr<int> lock_fd = LockBackupDir(*dir_fd, dir);
  close(*dir_fd);
  return lock_fd;
}

std::string AckMarkerPath(absl::string_view backup_file) {
  return absl::StrCat(backup_file, ".acked");
}

absl::Status WriteAckMarker(const std::string& backup_file) {
  const std::string marker = AckMarkerPath(backup_file);
  const int fd = open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return io::ErrnoToStatus(errno, "create the acknowledgement marker", marker);
  close(fd);
  return absl::OkStatus();
}

namespace {

// "<stream id>-<checkpoint>-<file>.pbfs", from a name or the last part of a path.
struct BackupFileName {
  absl::string_view stream_id;
  uint64_t checkpoint = 0;
  uint64_t file = 0;
};

std::optional<BackupFileName> ParseBackupFileName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  absl::string_view name = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  if (!absl::ConsumeSuffix(&name, ".pbfs")) return std::nullopt;
  const size_t second = name.rfind('-');
  if (second == absl::string_view::npos || second == 0) return std::nullopt;
  const size_t first = name.rfind('-', second - 1);
  if (first == absl::string_view::npos || first == 0) return std::nullopt;
  BackupFileName parsed;
  parsed.stream_id = name.substr(0, first);
  if (!absl::SimpleAtoi(name.substr(first + 1, second - first - 1), &parsed.checkpoint) ||
      !absl::SimpleAtoi(name.substr(second + 1), &parsed.file)) {
    return std::nullopt;
  }
  return parsed;
}

}  // namespace

bool BackupFileWrittenBefore(absl::string_view a, absl::string_view b) {
  const std::optional<BackupFileName> x = ParseBackupFileName(a);
  const std::optional<BackupFileName> y = ParseBackupFileName(b);
  if (x.has_value() != y.has_value()) return x.has_value();
  if (!x.has_value()) return a < b;
  return std::tie(x->stream_id, x->checkpoint, x->file, a) <
         std::tie(y->stream_id, y->checkpoint, y->file, b);
}

std::vector<std::string> LeftoverBackupFiles(const std::string& dir,
                                             absl::string_view own_stream_id) {
  std::vector<std::string> candidates;
  std::set<std::string> markers;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return candidates;
  const std::string own_prefix = absl::StrCat(own_stream_id, "-");
  while (dirent* entry = readdir(d)) {
    const absl::string_view name = entry->d_name;
    if (entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN) continue;
    if (absl::EndsWith(name, ".pbfs.acked")) {
      markers.insert(std::string(name.substr(0, name.size() - 6)));
    } else if (absl::EndsWith(name, ".pbfs") && !absl::StartsWith(name, own_prefix)) {
      candidates.emplace_back(name);
    }
  }
  closedir(d);
  std::sort(candidates.begin(), candidates.end(), BackupFileWrittenBefore);
  std::vector<std::string> leftovers;
  for (const std::string& name : candidates) {
    if (markers.count(name) == 0) leftovers.push_back(absl::StrCat(dir, "/", name));
  }
  return leftovers;
}

}  // namespace sift_stream::engine
