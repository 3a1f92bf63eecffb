// io/fault_injection.h seen through its two users: the Ring (every operation kind, both
// outcomes, counting, clearing) and AppendFile (create, write, short write, fsync).

#include "io/fault_injection.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "io/append_file.h"
#include "io/ring.h"

namespace sift_stream::io {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string TestPath(const std::string& name) {
  return TestDir() + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
         "_" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 255 + 1);  // Never 0: padding would show.
  return s;
}

// A page-aligned buffer, as O_DIRECT wants.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n, char fill)
      : size(n), data(static_cast<char*>(std::aligned_alloc(4096, n))) {
    std::memset(data, fill, n);
  }
  ~AlignedBuffer() { std::free(data); }
  size_t size;
  char* data;
};

class RingFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ring = Ring::Create(64);
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = std::move(ring).value();
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
  }

  int OpenFile(const std::string& path, int extra_flags = 0) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | extra_flags,
                        0600);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

  // Runs one operation to completion and returns its result.
  int32_t Finish(Completion& c) {
    EXPECT_TRUE(RunUntil(*ring_, [&] { return !c.in_flight(); }, absl::Seconds(10)).ok());
    return c.result;
  }

  int32_t Write(int fd, const void* data, uint32_t length, uint64_t offset) {
    Completion c;
    ring_->Write(c, fd, data, length, offset, callback());
    return Finish(c);
  }

  int32_t Sync(int fd, SyncKind kind) {
    Completion c;
    ring_->Fsync(c, fd, kind, callback());
    return Finish(c);
  }

  static void Ignore(void*, Completion&) {}
  static Callback callback() { return Callback{&RingFaultTest::Ignore, nullptr}; }

  std::unique_ptr<Ring> ring_;
  std::vector<int> fds_;
};

TEST_F(RingFaultTest, NthWriteFailsWithTheInjectedErrnoAndWritesNothing) {
  const std::string path = TestPath("file");
  const int fd = OpenFile(path);
  FaultPlan plan;
  const int id = plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC});
  ScopedFaultPlan scoped(&plan);
  EXPECT_EQ(Write(fd, "aaaa", 4, 0), 4);
  EXPECT_EQ(Write(fd, "bbbb", 4, 4), -ENOSPC);
  EXPECT_EQ(FileSize(path), 4) << "an injected failure must not reach the file";
  EXPECT_EQ(Write(fd, "cccc", 4, 4), 4) << "a one-shot rule acts once";
  EXPECT_EQ(ReadFile(path), "aaaacccc");
  EXPECT_EQ(plan.fired(id), 1);
  EXPECT_EQ(plan.seen(FaultOp::kWrite), 3);
}

TEST_F(RingFaultTest, DiskThatStaysFullFailsEveryWriteUntilTheRuleIsCleared) {
  const std::string path = TestPath("file");
  const int fd = OpenFile(path);
  FaultPlan plan;
  const int full =
      plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .and_after = true});
  ScopedFaultPlan scoped(&plan);
  EXPECT_EQ(Write(fd, "a", 1, 0), 1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Write(fd, "b", 1, 1), -ENOSPC) << "write " << i + 2;
  plan.Clear(full);  // Space comes back.
  EXPECT_EQ(Write(fd, "c", 1, 1), 1);
  EXPECT_EQ(ReadFile(path), "ac");
  EXPECT_EQ(plan.fired(full), 5);
}

TEST_F(RingFaultTest, PlanActsOnlyWhileInstalledAndCountsFromInstallation) {
  const std::string path = TestPath("file");
  const int fd = OpenFile(path);
  FaultPlan plan;
  const int id = plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = EIO});
  EXPECT_EQ(Write(fd, "a", 1, 0), 1);  // Not installed: not counted either.
  {
    ScopedFaultPlan scoped(&plan);
    EXPECT_EQ(Write(fd, "b", 1, 1), -EIO);
  }
  EXPECT_FALSE(FaultInjectionActive());
  EXPECT_EQ(Write(fd, "c", 1, 1), 1);
  EXPECT_EQ(plan.fired(id), 1);
  EXPECT_EQ(plan.seen(FaultOp::kWrite), 1);
}

TEST_F(RingFaultTest, ShortWriteReallyWritesLessAndTheRingContinuesWithTheRest) {
  const std::string path = TestPath("file");
  const int fd = OpenFile(path);
  std::mt19937 rng(1);
  const std::string payload = RandomBytes(rng, 10000);
  // Baseline: a whole write is one submission.
  const uint64_t before_plain = ring_->submit_calls();
  ASSERT_EQ(Write(fd, payload.data(), 10000, 0), 10000);
  EXPECT_EQ(ring_->submit_calls() - before_plain, 1u);

  FaultPlan plan;
  const int id = plan.Add(
      {.op = FaultOp::kWrite, .outcome = FaultOutcome::kShortWrite, .short_write_bytes = 3001});
  ScopedFaultPlan scoped(&plan);
  const uint64_t before = ring_->submit_calls();
  // The caller sees the whole length: the continuation is the ring's business.
  EXPECT_EQ(Write(fd, payload.data(), 10000, 10000), 10000);
  EXPECT_EQ(ring_->submit_calls() - before, 2u) << "the kernel was not asked for 3001 bytes first";
  EXPECT_EQ(plan.fired(id), 1);
  EXPECT_EQ(plan.seen(FaultOp::kWrite), 1) << "the continuation is not a new operation";
  EXPECT_TRUE(ReadFile(path) == payload + payload) << "file is not byte-exact";
}

TEST_F(RingFaultTest, ShortDirectWriteStaysBlockAlignedAndOneBlockWaitsForTheNextWrite) {
  const std::string path = TestPath("file");
  const int fd = OpenFile(path, O_DIRECT);
  if ((fcntl(fd, F_GETFL) & O_DIRECT) == 0) {
    GTEST_SKIP() << "O_DIRECT unavailable in " << TestDir();
  }
  AlignedBuffer one(4096, 'x');
  AlignedBuffer three(3 * 4096, 'y');
  FaultPlan plan;
  const int id = plan.Add({.op = FaultOp::kWrite, .outcome = FaultOutcome::kShortWrite});
  ScopedFaultPlan scoped(&plan);
  // One block cannot be cut honestly under O_DIRECT: written whole, the rule waits.
  ASSERT_EQ(Write(fd, one.data, 4096, 0), 4096);
  EXPECT_EQ(plan.fired(id), 0);
  // Half of 12288 is 6144, cut to 4096: an unaligned cut would make the rest fail (EINVAL).
  const uint64_t before = ring_->submit_calls();
  ASSERT_EQ(Write(fd, three.data, 3 * 4096, 4096), 3 * 4096);
  EXPECT_EQ(ring_->submit_calls() - before, 2u);
  EXPECT_EQ(plan.fired(id), 1);
  EXPECT_EQ(ReadFile(path), std::string(4096, 'x') + std::string(3 * 4096, 'y'));
}

TEST_F(RingFaultTest, FsyncRulesTellDataSyncFromFullSync) {
  const int fd = OpenFile(TestPath("file"));
  FaultPlan plan;
  const int data = plan.Add({.op = FaultOp::kDataSync, .nth = 1, .error = EIO});
  const int full = plan.Add({.op = FaultOp::kFullSync, .nth = 2, .error = EROFS});
  const int any = plan.Add({.op = FaultOp::kFsync, .nth = 4, .error = ENOSPC});
  ScopedFaultPlan scoped(&plan);
  EXPECT_EQ(Sync(fd, SyncKind::kFull), 0);
  EXPECT_EQ(Sync(fd, SyncKind::kData), -EIO);
  EXPECT_EQ(Sync(fd, SyncKind::kFull), -EROFS);
  EXPECT_EQ(Sync(fd, SyncKind::kData), -ENOSPC);  // The 4th of either kind.
  EXPECT_EQ(Sync(fd, SyncKind::kData), 0);
  EXPECT_EQ(plan.fired(data) + plan.fired(full) + plan.fired(any), 3);
  EXPECT_EQ(plan.seen(FaultOp::kFsync), 5);
  EXPECT_EQ(plan.seen(FaultOp::kDataSync), 3);
  EXPECT_EQ(plan.seen(FaultOp::kFullSync), 2);
}

TEST_F(RingFaultTest, CreatingOpenFailsWithErofsAndCreatesNothingWhileReadingOpensPass) {
  const std::string existing = TestPath("existing");
  ASSERT_GE(OpenFile(existing), 0);
  const std::string path = TestPath("new");
  FaultPlan plan;
  plan.Add({.op = FaultOp::kOpen, .nth = 1, .error = EROFS, .and_after = true});
  ScopedFaultPlan scoped(&plan);
  Completion read_open;
  ring_->OpenAt(read_open, AT_FDCWD, existing.c_str(), O_RDONLY | O_CLOEXEC, 0, callback());
  const int32_t read_fd = Finish(read_open);
  EXPECT_GE(read_fd, 0) << "an open that creates nothing is not a fault site";
  if (read_fd >= 0) close(read_fd);
  Completion create;
  ring_->OpenAt(create, AT_FDCWD, path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
                callback());
  EXPECT_EQ(Finish(create), -EROFS);
  EXPECT_FALSE(Exists(path));
  EXPECT_EQ(plan.seen(FaultOp::kOpen), 1);
}

TEST_F(RingFaultTest, RenameAndUnlinkFailAndLeaveTheNamesAsTheyWere) {
  const std::string from = TestPath("from");
  const std::string to = TestPath("to");
  ASSERT_GE(OpenFile(from), 0);
  FaultPlan plan;
  plan.Add({.op = FaultOp::kRename, .nth = 1, .error = EIO});
  plan.Add({.op = FaultOp::kUnlink, .nth = 1, .error = EROFS});
  ScopedFaultPlan scoped(&plan);
  Completion rename;
  ring_->RenameAt(rename, AT_FDCWD, from.c_str(), to.c_str(), callback());
  EXPECT_EQ(Finish(rename), -EIO);
  EXPECT_TRUE(Exists(from));
  EXPECT_FALSE(Exists(to));
  Completion unlink;
  ring_->UnlinkAt(unlink, AT_FDCWD, from.c_str(), 0, callback());
  EXPECT_EQ(Finish(unlink), -EROFS);
  EXPECT_TRUE(Exists(from));
  Completion again;
  ring_->UnlinkAt(again, AT_FDCWD, from.c_str(), 0, callback());
  EXPECT_EQ(Finish(again), 0);
  EXPECT_FALSE(Exists(from));
}

TEST_F(RingFaultTest, PathFilterCountsOnlyTheOperationsOnMatchingFiles) {
  const int a = OpenFile(TestPath("a.log"));
  const int b = OpenFile(TestPath("b.pbfs"));
  FaultPlan plan;
  const int id =
      plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  EXPECT_EQ(Write(a, "x", 1, 0), 1);
  EXPECT_EQ(Write(b, "x", 1, 0), 1);  // 1st .pbfs write.
  EXPECT_EQ(Write(a, "x", 1, 1), 1);
  EXPECT_EQ(Write(b, "x", 1, 1), -ENOSPC);  // 2nd .pbfs write.
  EXPECT_EQ(Sync(b, SyncKind::kData), 0);   // Another kind.
  EXPECT_EQ(plan.fired(id), 1);
}

TEST_F(RingFaultTest, InjectedFailureDoesNotWaitBehindTheKernel) {
  const int fd = OpenFile(TestPath("file"));
  FaultPlan plan;
  plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = EIO});
  ScopedFaultPlan scoped(&plan);
  Completion c;
  ring_->Write(c, fd, "x", 1, 0, callback());
  const absl::Time start = absl::Now();
  // Nothing is in the kernel: a turn that waited for a CQE would sleep the whole 5 s.
  absl::StatusOr<int> ran = ring_->RunOnce(absl::Seconds(5));
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(*ran, 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(c.result, -EIO);
  EXPECT_EQ(ring_->in_flight(), 0);
}

TEST_F(RingFaultTest, RulesChangedFromAnotherThreadWhileTheRingWrites) {
  const int fd = OpenFile(TestPath("file"));
  FaultPlan plan;
  ScopedFaultPlan scoped(&plan);
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    while (!stop.load()) {
      const int id =
          plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = ENOSPC, .and_after = true});
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      plan.Clear(id);
      (void)plan.fired(id);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  int ok = 0, failed = 0;
  for (int i = 0; i < 2000; ++i) {
    const int32_t result = Write(fd, "z", 1, static_cast<uint64_t>(i));
    ASSERT_TRUE(result == 1 || result == -ENOSPC) << result;
    (result == 1 ? ok : failed)++;
  }
  stop = true;
  flipper.join();
  EXPECT_EQ(plan.seen(FaultOp::kWrite), 2000);
  std::printf("writes ok %d, failed %d\n", ok, failed);
}

class AppendFileFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ring = Ring::Create(64);
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = std::move(ring).value();
  }

  std::unique_ptr<AppendFile> Create(const std::string& path, AppendFileOptions options) {
    auto file = AppendFile::Create(*ring_, path, options, nullptr);
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(file).value() : nullptr;
  }

  absl::Status WaitIdle(AppendFile& file) {
    return RunUntil(*ring_, [&] { return file.idle(); }, absl::Seconds(30), "backup writes");
  }

  // Appends, waiting for buffers to free up when they are all in flight.
  absl::Status AppendAll(AppendFile& file, absl::string_view bytes) {
    for (;;) {
      absl::Status status = file.Append(bytes);
      if (!absl::IsUnavailable(status)) return status;
      absl::StatusOr<int> ran = ring_->RunOnce(absl::Seconds(1));
      if (!ran.ok()) return ran.status();
    }
  }

  // Random pieces of up to 7 KiB until `total` bytes; flushes now and then, so that padded
  // tails are rewritten too. Returns what was appended.
  std::string AppendRandom(AppendFile& file, size_t total, unsigned seed) {
    std::mt19937 rng(seed);
    std::string expected;
    while (expected.size() < total) {
      std::string piece = RandomBytes(rng, rng() % 7001 + 1);
      absl::Status status = AppendAll(file, piece);
      EXPECT_TRUE(status.ok()) << status;
      if (!status.ok()) break;
      expected += piece;
      if (rng() % 5 == 0) file.Flush();
    }
    return expected;
  }

  std::unique_ptr<Ring> ring_;
};

TEST_F(AppendFileFaultTest, ReadOnlyFileSystemAtCreateIsPermissionDeniedAndCreatesNothing) {
  const std::string path = TestPath("file.pbfs");
  FaultPlan plan;
  plan.Add({.op = FaultOp::kOpen, .nth = 1, .error = EROFS});
  ScopedFaultPlan scoped(&plan);
  auto file = AppendFile::Create(*ring_, path, {}, nullptr);
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(file.status())) << file.status();
  EXPECT_TRUE(absl::StrContains(file.status().message(), path)) << file.status();
  EXPECT_TRUE(absl::StrContains(file.status().message(), "Read-only file system"))
      << file.status();
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(AppendFile::Create(*ring_, path, {}, nullptr).ok()) << "one-shot rule";
}

TEST_F(AppendFileFaultTest, EnospcOnTheThirdWriteStallsThenTheRetryLeavesTheFileByteExact) {
  const std::string path = TestPath("file.pbfs");
  AppendFileOptions options;
  options.buffer_size_bytes = 16 * 1024;
  options.buffer_count = 3;
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  FaultPlan plan;
  const int id = plan.Add({.op = FaultOp::kWrite, .nth = 3, .error = ENOSPC});
  ScopedFaultPlan scoped(&plan);
  std::string stall_seen;
  const std::string block(16 * 1024, 'z');
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(AppendAll(*file, block).ok());
    file->Flush();
    ASSERT_TRUE(RunUntil(*ring_, [&] {
                  if (!file->stall().ok()) stall_seen = std::string(file->stall().message());
                  return file->idle();
                }, absl::Seconds(30), "backup writes").ok());
  }
  EXPECT_EQ(plan.fired(id), 1);
  EXPECT_TRUE(absl::StrContains(stall_seen, path)) << stall_seen;
  EXPECT_TRUE(absl::StrContains(stall_seen, "at offset 32768")) << stall_seen;
  EXPECT_TRUE(absl::StrContains(stall_seen, "No space left on device")) << stall_seen;
  EXPECT_TRUE(file->status().ok()) << "a full disk is a stall, not an error: " << file->status();
  EXPECT_TRUE(file->stall().ok());
  EXPECT_EQ(file->written_size(), 8u * 16 * 1024);
  EXPECT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFile(path), std::string(8 * 16 * 1024, 'z'));
}

TEST_F(AppendFileFaultTest, DiskThatStaysFullStallsUntilTheStallIsAbandoned) {
  const std::string path = TestPath("full.pbfs");
  AppendFileOptions options;
  options.buffer_size_bytes = 16 * 1024;
  options.buffer_count = 3;
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  FaultPlan plan;
  plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .and_after = true});
  ScopedFaultPlan scoped(&plan);
  const std::string block(16 * 1024, 'z');
  absl::Status appended;
  for (int i = 0; i < 16 && appended.ok(); ++i) {
    appended = file->Append(block);
    (void)ring_->RunOnce(absl::Milliseconds(5));
  }
  EXPECT_TRUE(absl::IsUnavailable(appended)) << "buffers full: back-pressure, " << appended;
  ASSERT_TRUE(absl::IsResourceExhausted(file->stall())) << file->stall();
  EXPECT_TRUE(file->writing()) << "a stalled file has a retry coming";
  EXPECT_FALSE(file->idle());
  EXPECT_EQ(file->written_size(), 16u * 1024) << "nothing after the hole counts";
  file->AbandonStall();
  EXPECT_TRUE(absl::IsResourceExhausted(file->status())) << file->status();
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_EQ(file->written_size(), 16u * 1024) << "the abandoned writes never reached the disk";
  EXPECT_FALSE(file->Close().ok());
}

TEST_F(AppendFileFaultTest, StallThatEndsInAHardErrorFailsTheFileAndStopsRetrying) {
  const std::string path = TestPath("stall_then_eio.pbfs");
  AppendFileOptions options;
  options.buffer_size_bytes = 16 * 1024;
  options.buffer_count = 3;
  auto file = Create(path, options);
  ASSERT_NE(file, nullptr);
  FaultPlan plan;
  const int full = plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .and_after = true});
  ScopedFaultPlan scoped(&plan);
  const std::string block(16 * 1024, 'z');
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(AppendAll(*file, block).ok());
  }
  file->Flush();
  ASSERT_TRUE(RunUntil(*ring_, [&] { return !file->stall().ok(); }, absl::Seconds(10),
                       "the stall").ok());
  plan.Clear(full);
  plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = EIO, .and_after = true});
  // The retry meets EIO: a hard error ends the stall, and the file becomes idle (failed).
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_TRUE(file->stall().ok());
  EXPECT_FALSE(file->status().ok());
  EXPECT_TRUE(absl::StrContains(file->status().message(), "Input/output error")) << file->status();
  EXPECT_EQ(file->written_size(), 16u * 1024);
}

TEST_F(AppendFileFaultTest, ShortWritesInTheMiddleStillEndByteExact) {
  for (const bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    const std::string path = TestPath(direct ? "direct.pbfs" : "buffered.pbfs");
    AppendFileOptions options;
    options.buffer_size_bytes = 16 * 1024;  // Many writes, carried tails, padded rewrites.
    options.buffer_count = 3;
    options.direct = direct;
    auto file = Create(path, options);
    ASSERT_NE(file, nullptr);
    FaultPlan plan;
    const int half = plan.Add({.op = FaultOp::kWrite,
                               .nth = 3,
                               .outcome = FaultOutcome::kShortWrite});
    // An odd length: buffered files must take any cut; O_DIRECT rounds it down to 4096.
    const int odd = plan.Add({.op = FaultOp::kWrite,
                              .nth = 9,
                              .outcome = FaultOutcome::kShortWrite,
                              .short_write_bytes = 5001});
    const int often = plan.Add({.op = FaultOp::kWrite,
                                .nth = 20,
                                .outcome = FaultOutcome::kShortWrite,
                                .and_after = true});
    ScopedFaultPlan scoped(&plan);
    const std::string expected = AppendRandom(*file, 1 << 20, direct ? 11 : 12);
    file->Sync();
    ASSERT_TRUE(WaitIdle(*file).ok());
    ASSERT_TRUE(file->status().ok()) << file->status();
    EXPECT_EQ(file->direct_io(), direct);
    EXPECT_EQ(plan.fired(half), 1);
    EXPECT_EQ(plan.fired(odd), 1);
    EXPECT_GT(plan.fired(often), 10);
    EXPECT_EQ(file->written_size(), expected.size());
    EXPECT_EQ(file->synced_size(), expected.size());
    ASSERT_TRUE(file->Close().ok());
    EXPECT_EQ(FileSize(path), static_cast<off_t>(expected.size()));
    EXPECT_TRUE(ReadFile(path) == expected) << "content differs";
  }
}

TEST_F(AppendFileFaultTest, EioOnFdatasyncFailsTheFileAndNothingCountsAsSynced) {
  const std::string path = TestPath("file.pbfs");
  auto file = Create(path, {});
  ASSERT_NE(file, nullptr);
  FaultPlan plan;
  plan.Add({.op = FaultOp::kDataSync, .nth = 1, .error = EIO});
  ScopedFaultPlan scoped(&plan);
  ASSERT_TRUE(file->Append("abc").ok());
  file->Sync();
  ASSERT_TRUE(WaitIdle(*file).ok());
  EXPECT_TRUE(absl::IsInternal(file->status())) << file->status();
  EXPECT_TRUE(absl::StrContains(file->status().message(), "fdatasync")) << file->status();
  EXPECT_TRUE(absl::StrContains(file->status().message(), path)) << file->status();
  EXPECT_EQ(file->synced_size(), 0u);
  EXPECT_EQ(file->written_size(), 3u) << "the write itself completed";
  EXPECT_FALSE(file->Close().ok());
}

}  // namespace
}  // namespace sift_stream::io
