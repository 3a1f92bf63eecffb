// The API key never reaches a log line, stderr, a served page or a returned status — checked
// while a stream with a wrong key runs against a server that refuses it, at the most verbose
// log level, with every failure path (refused live stream, refused re-ingestion, error
// signals, checkpoint outcomes) exercised. Also: the engine logs without InitGoogleLogging.

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/metrics_test_util.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

constexpr char kWrongKey[] = "sk-live-9f8e7d6c5b4a-DO-NOT-LOG";

// Sends fd 2 to a file for the test's lifetime, so raw writes to stderr are scanned too.
class StderrToFile {
 public:
  explicit StderrToFile(std::string path) : path_(std::move(path)) {
    saved_ = dup(2);
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
  }
  ~StderrToFile() { Restore(); }
  std::string Restore() {
    if (saved_ >= 0) {
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
    std::ifstream in(path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  std::string path_;
  int saved_ = -1;
};

TEST_F(SiftStreamTest, WrongApiKeyNeverAppearsInLogsStderrPagesOrStatuses) {
  FLAGS_v = 2;
  LogCapture sink;
  google::AddLogSink(&sink);
  StderrToFile stderr_file(absl::StrCat(std::getenv("TEST_TMPDIR"), "/stderr.txt"));
  std::vector<std::string> seen;  // Statuses and pages the user could print.

  // The set-up calls refuse the key: Build's error must not quote it.
  auto refused = Builder().ApiKey(kWrongKey).Build();
  EXPECT_FALSE(refused.ok());
  seen.push_back(refused.status().ToString());

  // Skipping the set-up calls, the stream runs: live streams and re-ingestion are refused.
  sift_->RefuseStreamsFor(absl::Milliseconds(300));
  auto stream = Builder()
                    .ApiKey(kWrongKey)
                    .ExistingIngestionConfig("config-that-was-made-earlier")
                    .ServeMetrics("127.0.0.1:0")
                    .Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 500);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*stream)->Metrics().errors == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(500));  // A few more checkpoints and retries.
  for (const char* path : {"/metrics", "/status"}) {
    auto page = engine::testing::HttpGet((*stream)->metrics_address(), path);
    ASSERT_TRUE(page.ok()) << page.status();
    seen.push_back(page->body);
  }
  seen.push_back((*stream)->Metrics().last_error);
  for (const CheckpointOutcome& c : (*stream)->RecentCheckpoints()) seen.push_back(c.detail);
  seen.push_back((*stream)->Finish(absl::Seconds(1)).ToString());
  stream->reset();

  google::RemoveLogSink(&sink);
  const std::string logged = sink.text();
  const std::string stderr_text = stderr_file.Restore();
  FLAGS_v = 0;

  // The scan means something only if the failure paths did log.
  EXPECT_TRUE(absl::StrContains(logged, "live streaming stopped")) << logged;
  EXPECT_TRUE(absl::StrContains(logged, "checkpoint")) << logged;
  EXPECT_FALSE(absl::StrContains(logged, kWrongKey)) << logged;
  EXPECT_FALSE(absl::StrContains(stderr_text, kWrongKey)) << stderr_text;
  for (const std::string& text : seen) EXPECT_FALSE(absl::StrContains(text, kWrongKey)) << text;
  // Nor a telling part of it (a log line that truncates or splits the key).
  EXPECT_FALSE(absl::StrContains(logged + stderr_text, "DO-NOT-LOG"));
}

TEST(GlogTest, LibraryLogsWithoutInitGoogleLogging) {
  ASSERT_FALSE(google::IsGoogleLoggingInitialized()) << "the test must not initialize glog";
  LogCapture sink;
  google::AddLogSink(&sink);
  LOG(WARNING) << "sift_stream logging test line";
  google::RemoveLogSink(&sink);
  EXPECT_TRUE(absl::StrContains(sink.text(), "sift_stream logging test line"));
}

}  // namespace
}  // namespace sift_stream
