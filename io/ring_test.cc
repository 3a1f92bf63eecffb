#include "io/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sift_stream::io {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Records every completion it sees, in order.
struct Recorder {
  std::vector<int32_t> results;
  std::vector<Completion*> order;
  void OnDone(Completion& c) {
    results.push_back(c.result);
    order.push_back(&c);
  }
  Callback callback() { return Bind<Recorder, &Recorder::OnDone>(this); }
};

std::unique_ptr<Ring> MakeRing(unsigned entries = 64) {
  auto ring = Ring::Create(entries);
  EXPECT_TRUE(ring.ok()) << ring.status();
  return std::move(ring).value();
}

TEST(RingTest, OpenWriteSyncCloseThroughTheRingLeavesTheBytesOnDisk) {
  auto ring = MakeRing();
  const std::string path = TestDir() + "/ring_basic.bin";
  Recorder rec;
  Completion open_op;
  ring->OpenAt(open_op, AT_FDCWD, path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600,
               rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !open_op.in_flight(); }, absl::Seconds(10)).ok());
  ASSERT_GE(open_op.result, 0) << strerror(-open_op.result);
  const int fd = open_op.result;

  const std::string payload = "hello, ring";
  Completion write_op, sync_op, close_op;
  ring->Write(write_op, fd, payload.data(), payload.size(), 0, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !write_op.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(write_op.result, static_cast<int32_t>(payload.size()));
  ring->Fsync(sync_op, fd, SyncKind::kData, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !sync_op.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(sync_op.result, 0);
  ring->Close(close_op, fd, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return ring->in_flight() == 0; }, absl::Seconds(10)).ok());
  EXPECT_EQ(close_op.result, 0);

  char buffer[64] = {};
  int rfd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(rfd, 0);
  Completion read_op;
  ring->Read(read_op, rfd, buffer, sizeof(buffer), 0, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !read_op.in_flight(); }, absl::Seconds(10)).ok());
  close(rfd);
  ASSERT_EQ(read_op.result, static_cast<int32_t>(payload.size()));
  EXPECT_EQ(std::string(buffer, read_op.result), payload);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(RingTest, QueuedBeyondSubmissionQueueDepthAllCompleteInOrder) {
  auto ring = MakeRing(4);  // Far fewer SQEs than operations.
  Recorder rec;
  std::vector<Completion> ops(100);
  for (Completion& c : ops) ring->Nop(c, rec.callback());
  EXPECT_EQ(ring->in_flight(), 100);
  ASSERT_TRUE(RunUntil(*ring, [&] { return ring->in_flight() == 0; }, absl::Seconds(10)).ok());
  ASSERT_EQ(rec.order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rec.order[i], &ops[i]);
}

TEST(RingTest, ManyWritesQueuedInOneTurnCostOneSubmitCall) {
  auto ring = MakeRing(128);
  const std::string path = TestDir() + "/ring_batch.bin";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  Recorder rec;
  std::vector<Completion> ops(64);
  std::string block(512, 'x');
  for (int i = 0; i < 64; ++i) ring->Write(ops[i], fd, block.data(), block.size(), i * 512, rec.callback());
  const uint64_t before = ring->submit_calls();
  ASSERT_TRUE(ring->RunOnce(absl::ZeroDuration()).ok());
  EXPECT_EQ(ring->submit_calls() - before, 1u);
  ASSERT_TRUE(RunUntil(*ring, [&] { return ring->in_flight() == 0; }, absl::Seconds(10)).ok());
  for (int32_t r : rec.results) EXPECT_EQ(r, 512);
  struct stat st;
  fstat(fd, &st);
  EXPECT_EQ(st.st_size, 64 * 512);
  close(fd);
}

TEST(RingTest, TimeoutCompletesWithZeroAfterItsDuration) {
  auto ring = MakeRing();
  Recorder rec;
  Completion timer;
  const absl::Time start = absl::Now();
  ring->Timeout(timer, absl::Milliseconds(30), rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !timer.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(timer.result, 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(29));
}

TEST(RingTest, CancelledTimeoutCompletesWithEcanceled) {
  auto ring = MakeRing();
  Recorder rec;
  Completion timer, cancel;
  ring->Timeout(timer, absl::Seconds(60), rec.callback());
  ASSERT_TRUE(ring->RunOnce(absl::ZeroDuration()).ok());
  ring->Cancel(cancel, timer, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return ring->in_flight() == 0; }, absl::Seconds(10)).ok());
  EXPECT_EQ(timer.result, -ECANCELED);
  EXPECT_EQ(cancel.result, 0);
}

TEST(RingTest, RenameAndUnlinkThroughTheRing) {
  auto ring = MakeRing();
  const std::string a = TestDir() + "/ring_a", b = TestDir() + "/ring_b";
  close(open(a.c_str(), O_CREAT | O_WRONLY, 0600));
  Recorder rec;
  Completion rename_op, unlink_op;
  ring->RenameAt(rename_op, AT_FDCWD, a.c_str(), b.c_str(), rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !rename_op.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(rename_op.result, 0);
  EXPECT_NE(access(a.c_str(), F_OK), 0);
  EXPECT_EQ(access(b.c_str(), F_OK), 0);
  ring->UnlinkAt(unlink_op, AT_FDCWD, b.c_str(), 0, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !unlink_op.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(unlink_op.result, 0);
  EXPECT_NE(access(b.c_str(), F_OK), 0);
}

TEST(RingTest, OpenInMissingDirectoryReportsEnoentAndStatusNamesThePath) {
  auto ring = MakeRing();
  const std::string path = TestDir() + "/no/such/dir/file";
  Recorder rec;
  Completion open_op;
  ring->OpenAt(open_op, AT_FDCWD, path.c_str(), O_CREAT | O_WRONLY, 0600, rec.callback());
  ASSERT_TRUE(RunUntil(*ring, [&] { return !open_op.in_flight(); }, absl::Seconds(10)).ok());
  EXPECT_EQ(open_op.result, -ENOENT);
  absl::Status status = ErrnoToStatus(-open_op.result, "open", path);
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_NE(status.message().find(path), absl::string_view::npos) << status;
}

// A callback that starts a new operation must not see it complete inside itself.
struct Chain {
  Ring* ring;
  Completion op;
  int depth = 0;
  int max_depth_seen = 0;
  int remaining = 5;
  void OnDone(Completion&) {
    ++depth;
    max_depth_seen = std::max(max_depth_seen, depth);
    if (--remaining > 0) ring->Nop(op, Bind<Chain, &Chain::OnDone>(this));
    --depth;
  }
};

TEST(RingTest, CallbacksNeverRunInsideAnotherCallback) {
  auto ring = MakeRing();
  Chain chain{ring.get(), Completion()};
  ring->Nop(chain.op, Bind<Chain, &Chain::OnDone>(&chain));
  ASSERT_TRUE(RunUntil(*ring, [&] { return ring->in_flight() == 0; }, absl::Seconds(10)).ok());
  EXPECT_EQ(chain.remaining, 0);
  EXPECT_EQ(chain.max_depth_seen, 1);
}

TEST(RingTest, RunUntilGivesUpWithDeadlineExceeded) {
  auto ring = MakeRing();
  absl::Status status = RunUntil(*ring, [] { return false; }, absl::Milliseconds(20), "nothing");
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
}

}  // namespace
}  // namespace sift_stream::io
