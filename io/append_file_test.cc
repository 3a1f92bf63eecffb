#include "io/append_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sift_stream::io {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// A file system of `type` mounted on a fresh directory for one test; unmounted at the end.
class ScopedMount {
 public:
  ScopedMount(const std::string& name, const char* type, const char* options,
              unsigned long flags = 0)
      : dir_(TestDir() + "/" + name) {
    mkdir(dir_.c_str(), 0700);
    if (mount(type, dir_.c_str(), type, flags, options) == 0) {
      mounted_ = true;
    } else {
      error_ = strerror(errno);
    }
  }
  ~ScopedMount() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

class AppendFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ring = Ring::Create(64);
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = std::move(ring).value();
  }

  std::unique_ptr<AppendFile> Create(const std::string& path, AppendFileOptions options = {}) {
    auto file = AppendFile::Create(*ring_, path, options, [this] { ++progress_calls_; });
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(file).value() : nullptr;
  }

  absl::Status WaitIdle(AppendFile& file) {
    return RunUntil(*ring_, [&] { return file.idle(); }, absl::Seconds(30), "backup writes");
  }

  // Appends, waiting for buffers to free up when they are all in flight.
  void AppendAll(AppendFile& file, absl::string_view bytes) {
    while (true) {
      absl::Status status = file.Append(bytes);
      if (status.ok()) return;
      ASSERT_TRUE(absl::IsUnavailable(status)) << status;
      ASSERT_TRUE(ring_->RunOnce(absl::Seconds(1)).ok());
    }
  }

  std::unique_ptr<Ring> ring_;
  int progress_calls_ = 0;
};

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 255 + 1);  // Never 0: padding would show.
  return s;
}

TEST_F(AppendFileTest, ManyOddSizedAppendsAcrossBlockBoundariesAreByteExact) {
  const std::string path = TestDir() + "/odd_sizes.bin";
  AppendFileOptions options;
  options.buffer_size_bytes = 16 * 1024;  // Small buffers: many rotations and carried tails.
  options.buffer_count = 3;
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  std::mt19937 rng(7);
  std::string expected;
  while (expected.size() < 3 * 1024 * 1024) {
    std::string piece = RandomBytes(rng, rng() % 7001 + 1);
    AppendAll(*file, piece);
    expected += piece;
    if (rng() % 5 == 0) file->Flush();  // Partial tail blocks, padded in flight.
    if (rng() % 17 == 0) {
      file->Sync();
      ASSERT_TRUE(WaitIdle(*file).ok());
      EXPECT_EQ(file->written_size(), expected.size());
      EXPECT_EQ(file->synced_size(), expected.size());
    }
  }
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_EQ(file->logical_size(), expected.size());
  EXPECT_EQ(file->written_size(), expected.size());
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(FileSize(path), static_cast<off_t>(expected.size()));
  EXPECT_TRUE(ReadFile(path) == expected) << "content differs";
  EXPECT_GT(progress_calls_, 0);
}

TEST_F(AppendFileTest, PaddedTailIsCutToLogicalLengthAtClose) {
  const std::string path = TestDir() + "/tail.bin";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  if (!file->direct_io()) GTEST_SKIP() << "O_DIRECT unavailable in " << TestDir();
  ASSERT_TRUE(file->Append(std::string(5000, 'a')).ok());
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  // On disk the tail block is padded to the alignment until close.
  EXPECT_EQ(FileSize(path) % static_cast<off_t>(file->alignment()), 0);
  EXPECT_GE(FileSize(path), 5000);
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(FileSize(path), 5000);
  EXPECT_EQ(ReadFile(path), std::string(5000, 'a'));
}

TEST_F(AppendFileTest, FlushedTailIsRewrittenWhenItGrows) {
  const std::string path = TestDir() + "/grow.bin";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append("first-").ok());
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  ASSERT_TRUE(file->Append("second").ok());
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  // Before close: the first bytes are the logical content, whatever padding follows.
  EXPECT_EQ(ReadFile(path).substr(0, 12), "first-second");
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFile(path), "first-second");
}

TEST_F(AppendFileTest, UnflushedBytesAreNotReportedWritten) {
  auto file = Create(TestDir() + "/unflushed.bin");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append("abc").ok());
  ASSERT_TRUE(ring_->RunOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(file->written_size(), 0u);
  EXPECT_FALSE(file->idle());
  EXPECT_TRUE(absl::IsFailedPrecondition(file->Close()));
  file->Sync();
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_EQ(file->synced_size(), 3u);
  ASSERT_TRUE(file->Close().ok());
}

TEST_F(AppendFileTest, WritingMeansAWriteOrSyncInFlightNotUnflushedBytes) {
  auto file = Create(TestDir() + "/writing.bin");
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(file->writing());
  ASSERT_TRUE(file->Append("abc").ok());
  // Unflushed bytes: nothing for the ring to finish, yet not idle.
  EXPECT_FALSE(file->writing());
  EXPECT_FALSE(file->idle());
  file->Flush();
  EXPECT_TRUE(file->writing());  // The padded tail block is in flight.
  ASSERT_TRUE(
      RunUntil(*ring_, [&] { return !file->writing(); }, absl::Seconds(30), "the write").ok());
  EXPECT_TRUE(file->idle());
  EXPECT_EQ(file->written_size(), 3u);
  file->Sync();
  EXPECT_TRUE(file->writing());  // The fdatasync is in flight.
  ASSERT_TRUE(
      RunUntil(*ring_, [&] { return !file->writing(); }, absl::Seconds(30), "the sync").ok());
  EXPECT_TRUE(file->idle());
  EXPECT_EQ(file->synced_size(), 3u);
  ASSERT_TRUE(file->Close().ok());
}

TEST_F(AppendFileTest, AppendLargerThanFreeBuffersIsRefusedWholeUntilWritesComplete) {
  AppendFileOptions options;
  options.buffer_size_bytes = 4096;
  options.buffer_count = 3;
  const std::string path = TestDir() + "/backpressure.bin";
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append(std::string(8192, 'a')).ok());  // Two buffers now in flight.
  const size_t free_before = file->free_bytes();
  ASSERT_LT(free_before + 1, file->max_append_bytes());
  absl::Status status = file->Append(std::string(free_before + 1, 'x'));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos);
  EXPECT_EQ(file->logical_size(), 8192u);  // Nothing more was taken.
  ASSERT_TRUE(WaitIdle(*file).ok());
  ASSERT_TRUE(file->Append(std::string(free_before + 1, 'x')).ok());
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(FileSize(path), static_cast<off_t>(8192 + free_before + 1));
}

TEST_F(AppendFileTest, AppendThatCanNeverFitIsInvalidArgumentNotRetry) {
  AppendFileOptions options;
  options.buffer_size_bytes = 4096;
  options.buffer_count = 2;
  auto file = Create(TestDir() + "/never_fits.bin", options);
  ASSERT_NE(file, nullptr);
  absl::Status status = file->Append(std::string(2 * 4096 + 1, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_EQ(file->logical_size(), 0u);
  EXPECT_TRUE(file->Append(std::string(file->max_append_bytes(), 'x')).ok());
  file->Flush();
  ASSERT_TRUE(WaitIdle(*file).ok());
  ASSERT_TRUE(file->Close().ok());
}

TEST_F(AppendFileTest, DestroyingWithWritesInFlightWaitsForThem) {
  const std::string path = TestDir() + "/destroy_in_flight.bin";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append(std::string(3 << 20, 'q')).ok());  // Three full buffers.
  file->Flush();
  ASSERT_TRUE(ring_->RunOnce(absl::ZeroDuration()).ok());  // Submitted, likely not done.
  file.reset();  // Must not free buffers under the kernel (ASan would see it).
  EXPECT_EQ(ring_->in_flight(), 0);
  EXPECT_GE(FileSize(path), 3 << 20);
}

TEST_F(AppendFileTest, BuffersOfAClosedFileAreReusedByTheNextThroughThePool) {
  AppendBufferPool pool(8);
  AppendFileOptions options;
  options.buffer_size_bytes = 64 * 1024;
  options.buffer_count = 4;
  options.pool = &pool;
  for (int round = 0; round < 3; ++round) {
    const std::string path = absl::StrCat(TestDir(), "/pooled", round, ".bin");
    auto file = Create(path, options);
    ASSERT_NE(file, nullptr);
    EXPECT_EQ(pool.kept(), 0u) << "round " << round << " allocated instead of reusing";
    AppendAll(*file, std::string(100 * 1024, 'a' + round));
    file->Flush();
    ASSERT_TRUE(WaitIdle(*file).ok());
    ASSERT_TRUE(file->Close().ok());
    file.reset();
    EXPECT_EQ(pool.kept(), 4u);
    EXPECT_EQ(ReadFile(path), std::string(100 * 1024, 'a' + round));
  }
}

TEST_F(AppendFileTest, FilesAreCreatedWithMode0600) {
  const std::string path = TestDir() + "/mode.bin";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(file->Close().ok());
}

TEST_F(AppendFileTest, UsesDirectIoOnExt4) {
  auto file = Create(TestDir() + "/direct.bin");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->direct_io()) << "expected O_DIRECT to work in " << TestDir();
  EXPECT_EQ(file->alignment() % 512, 0u);
  ASSERT_TRUE(file->Close().ok());
}

TEST_F(AppendFileTest, FallsBackToBufferedWritesOnRamfs) {
  ScopedMount ramfs("ramfs", "ramfs", "");
  if (!ramfs.mounted()) GTEST_SKIP() << "cannot mount ramfs here: " << ramfs.error();
  const std::string path = ramfs.dir() + "/fallback.bin";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(file->direct_io());
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "record " + std::to_string(i) + "\n";
  ASSERT_TRUE(file->Append(expected).ok());
  file->Flush();
  ASSERT_TRUE(file->Append("tail").ok());
  file->Sync();
  ASSERT_TRUE(WaitIdle(*file).ok());
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFile(path), expected + "tail");
}

TEST_F(AppendFileTest, MissingDirectoryIsNotFoundNamingThePath) {
  const std::string path = TestDir() + "/does/not/exist/file.bin";
  auto file = AppendFile::Create(*ring_, path, {}, nullptr);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsNotFound(file.status())) << file.status();
  EXPECT_NE(file.status().message().find(path), absl::string_view::npos) << file.status();
}

TEST_F(AppendFileTest, ExistingFileIsNeverOverwritten) {
  const std::string path = TestDir() + "/exists.bin";
  { std::ofstream(path) << "keep me"; }
  auto file = AppendFile::Create(*ring_, path, {}, nullptr);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(file.status())) << file.status();
  EXPECT_EQ(ReadFile(path), "keep me");
}

TEST_F(AppendFileTest, ReadOnlyFileSystemIsPermissionDeniedNamingThePath) {
  ScopedMount ro("readonly", "tmpfs", "size=1m", MS_RDONLY);
  if (!ro.mounted()) GTEST_SKIP() << "cannot mount tmpfs here: " << ro.error();
  const std::string path = ro.dir() + "/file.bin";
  auto file = AppendFile::Create(*ring_, path, {}, nullptr);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(file.status())) << file.status();
  EXPECT_NE(file.status().message().find(path), absl::string_view::npos) << file.status();
}

TEST_F(AppendFileTest, FullDiskStallsAndResumesByteExactWhenSpaceComesBack) {
  ScopedMount small("small", "tmpfs", "size=256k");
  if (!small.mounted()) GTEST_SKIP() << "cannot mount tmpfs here: " << small.error();
  const std::string filler = small.dir() + "/filler.bin";
  {
    std::ofstream out(filler, std::ios::binary);
    out << std::string(160 * 1024, 'f');
  }
  const std::string path = small.dir() + "/full.bin";
  AppendFileOptions options;
  options.buffer_size_bytes = 32 * 1024;
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  std::string expected;
  const std::string block(32 * 1024, 'z');
  for (int i = 0; i < 4; ++i) {  // 128 KiB: more than the 96 KiB left beside the filler.
    AppendAll(*file, block);
    expected += block;
  }
  file->Flush();
  ASSERT_TRUE(RunUntil(*ring_, [&] { return !file->stall().ok(); }, absl::Seconds(10),
                       "the disk to fill").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(file->stall())) << file->stall();
  EXPECT_NE(file->stall().message().find(path), absl::string_view::npos) << file->stall();
  EXPECT_TRUE(file->status().ok()) << "full is a stall, not an error";
  EXPECT_FALSE(file->idle());
  ASSERT_EQ(unlink(filler.c_str()), 0);  // Space comes back.
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_TRUE(file->stall().ok());
  EXPECT_TRUE(file->Close().ok());
  EXPECT_TRUE(ReadFile(path) == expected) << "the retried writes left a hole or padding";
}

}  // namespace
}  // namespace sift_stream::io
