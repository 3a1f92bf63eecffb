// io/pbfs_source.cc — see pbfs_source.h.

#include "io/pbfs_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sift_stream::io::pbfs_internal {

static_assert(sizeof(size_t) >= sizeof(uint64_t), "windows and views are sized in size_t");

absl::StatusOr<std::unique_ptr<ByteSource>> ByteSource::OpenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open PBFS file ", path));
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error_number = errno;
    close(fd);
    return absl::ErrnoToStatus(error_number, absl::StrCat("fstat ", path));
  }
  if (!S_ISREG(info.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  return std::unique_ptr<ByteSource>(new ByteSource(fd, static_cast<uint64_t>(info.st_size), path));
}

ByteSource::ByteSource(absl::string_view bytes) : bytes_(bytes), size_(bytes.size()) {}

ByteSource::ByteSource(int fd, uint64_t size, std::string path)
    : fd_(fd), size_(size), path_(std::move(path)) {}

ByteSource::~ByteSource() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<absl::string_view> ByteSource::Peek(uint64_t offset, uint64_t length) {
  if (offset > size_ || length > size_ - offset) {
    return absl::InternalError(absl::StrCat("PBFS reader bug: ", length, " bytes at offset ",
                                            offset, " requested from ", size_, " bytes"));
  }
  if (fd_ < 0) return bytes_.substr(offset, length);
  if (offset < window_offset_ || offset + length > window_offset_ + window_.size()) {
    const uint64_t fill = std::min(std::max(length, kWindowBytes), size_ - offset);
    if (absl::Status status = Fill(offset, fill); !status.ok()) return status;
  }
  return absl::string_view(window_).substr(offset - window_offset_, length);
}

absl::Status ByteSource::Fill(uint64_t offset, uint64_t length) {
  window_.resize(length);
  window_offset_ = offset;
  for (uint64_t done = 0; done < length;) {
    const ssize_t n = pread(fd_, &window_[done], length - done, offset + done);
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int error_number = errno;
    window_.clear();  // Never serve a half-filled window.
    if (n == 0) {
      return absl::AbortedError(absl::StrCat(path_, " shrank to ", offset + done,
                                             " bytes while being read (it had ", size_,
                                             " at open); read it again once nothing writes it"));
    }
    return absl::ErrnoToStatus(error_number,
                               absl::StrCat("pread ", path_, " at offset ", offset + done));
  }
  return absl::OkStatus();
}

}  // namespace sift_stream::io::pbfs_internal
