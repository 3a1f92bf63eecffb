// ServeMetrics end to end: a stream against the in-process fake Sift serves /metrics and
// /status over real loopback HTTP, the numbers match what was sent, promtool accepts what is
// served, and a bad address or a taken port fails Build() clearly.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/metrics_test_util.h"
#include "engine/metrics_text.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

using engine::testing::HttpGet;
using engine::testing::SampleValue;

class MetricsHttpTest : public SiftStreamTest {
 protected:
  std::unique_ptr<SiftStream> Start() {
    auto stream = Builder().ServeMetrics("127.0.0.1:0").Build();
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? std::move(stream).value() : nullptr;
  }

  std::string Metrics(const SiftStream& stream) {
    auto response = HttpGet(stream.metrics_address(), "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->code, 200) << response->body;
    EXPECT_EQ(response->content_type, engine::kPrometheusContentType);
    return response->body;
  }
};

TEST_F(MetricsHttpTest, ScrapedCountersMatchWhatWasSentFlushedAndAcknowledged) {
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(absl::StartsWith(stream->metrics_address(), "127.0.0.1:"));
  EXPECT_NE(stream->metrics_address(), "127.0.0.1:0") << "the real port, not the one asked";
  SendAll(*stream, 2, 3000);
  ASSERT_TRUE(stream->Flush(absl::Seconds(10)).ok());
  const std::string flushed = Metrics(*stream);
  EXPECT_EQ(SampleValue(flushed, "sift_stream_messages_sent_total"), 3000) << flushed;
  EXPECT_EQ(SampleValue(flushed, "sift_stream_messages_durable_total"), 3000);
  EXPECT_EQ(SampleValue(flushed, "sift_stream_backup_disk_full"), 0);
  EXPECT_TRUE(SampleValue(flushed, "sift_stream_backup_dir_files").has_value());

  ASSERT_TRUE(stream->Finish(absl::Seconds(30)).ok());
  const std::string finished = Metrics(*stream);  // Still served after Finish.
  EXPECT_GE(*SampleValue(finished, "sift_stream_checkpoints_acknowledged_total"), 1);
  EXPECT_GE(*SampleValue(finished, "sift_stream_messages_acknowledged_total") +
                *SampleValue(finished, "sift_stream_messages_reingested_total"),
            3000);
  EXPECT_EQ(SampleValue(finished, "sift_stream_backup_dir_files"), 0) << "all acknowledged";
  ExpectNothingLost(3000);
}

TEST_F(MetricsHttpTest, StatusPageShowsStreamRatesAndCheckpointHistory) {
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  SendAll(*stream, 1, 2000);
  // Checkpoints end every 200 ms in the fixture; wait for one with messages to be recorded.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (stream->RecentCheckpoints().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_FALSE(stream->RecentCheckpoints().empty());
  ASSERT_TRUE(HttpGet(stream->metrics_address(), "/status").ok());  // A first rate sample.
  absl::SleepFor(absl::Milliseconds(300));
  auto page = HttpGet(stream->metrics_address(), "/status");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->code, 200);
  EXPECT_TRUE(absl::StartsWith(page->content_type, "text/html"));
  const std::string& html = page->body;
  EXPECT_TRUE(absl::StrContains(html, "http-equiv=\"refresh\"")) << html;
  EXPECT_TRUE(absl::StrContains(html, stream->stream_id()));
  EXPECT_TRUE(absl::StrContains(html, "Rates (last ")) << "two samples 300 ms apart";
  EXPECT_TRUE(absl::StrContains(html, "<td>acknowledged</td>")) << html;
  EXPECT_TRUE(absl::StrContains(html, "<th>sent</th><td>2000 msgs")) << html;
  EXPECT_TRUE(absl::StrContains(html, backup_dir_));
  EXPECT_FALSE(absl::StrContains(html, kKey)) << "the API key is never shown";
  ASSERT_TRUE(stream->Finish(absl::Seconds(30)).ok());
}

TEST_F(MetricsHttpTest, StatusPageOfAMemoryBackedStreamShowsTheRingNotADirectory) {
  auto stream = Builder()
                    .Mode(StreamMode::kLiveWithMemoryBackups)
                    .ServeMetrics("127.0.0.1:0")
                    .Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 500);
  auto page = HttpGet((*stream)->metrics_address(), "/status");
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string& html = page->body;
  EXPECT_TRUE(absl::StrContains(html, "Memory backup")) << html;
  EXPECT_TRUE(absl::StrContains(html, "not yet acknowledged")) << html;
  EXPECT_FALSE(absl::StrContains(html, "live only")) << html;
  EXPECT_FALSE(absl::StrContains(html, backup_dir_)) << "memory mode touches no directory";
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
}

TEST_F(MetricsHttpTest, PromtoolAcceptsWhatTheServerServes) {
  if (!engine::testing::Executable("/usr/bin/promtool")) {
    GTEST_SKIP() << "/usr/bin/promtool not installed (Debian package prometheus; "
                    "tools/setup.sh installs it)";
  }
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  SendAll(*stream, 1, 500);
  ASSERT_TRUE(stream->Flush(absl::Seconds(10)).ok());
  auto checked =
      engine::testing::RunProgram({"/usr/bin/promtool", "check", "metrics"}, Metrics(*stream));
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->exit_code, 0) << checked->output;
  ASSERT_TRUE(stream->Finish(absl::Seconds(30)).ok());
}

TEST_F(MetricsHttpTest, UnknownPathIsNotFoundAndRootRedirectsToStatus) {
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  auto missing = HttpGet(stream->metrics_address(), "/metrics/../../etc/passwd");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_NE(missing->code, 200);
  EXPECT_EQ(HttpGet(stream->metrics_address(), "/nothing")->code, 404);
  EXPECT_EQ(HttpGet(stream->metrics_address(), "/")->code, 302);
}

TEST_F(MetricsHttpTest, WithoutServeMetricsThereIsNoServerAndNoAddress) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->metrics_address(), "");
}

TEST_F(MetricsHttpTest, MalformedAddressFailsBuildWithInvalidArgument) {
  auto stream = Builder().ServeMetrics("localhost").Build();
  EXPECT_TRUE(absl::IsInvalidArgument(stream.status())) << stream.status();
  EXPECT_TRUE(absl::StrContains(stream.status().message(), "ServeMetrics(\"localhost\")"));
  EXPECT_EQ(sift_->Stats().ingestion_config_calls.calls, 0) << "failed before calling Sift";
}

TEST_F(MetricsHttpTest, PortInUseFailsBuildWithUnavailableNamingTheAddress) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string taken = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  auto stream = Builder().ServeMetrics(taken).Build();
  close(fd);
  EXPECT_TRUE(absl::IsUnavailable(stream.status())) << stream.status();
  EXPECT_TRUE(absl::StrContains(stream.status().message(), taken)) << stream.status();
}

// CivetWeb's listener polls for two seconds at a time; the server wakes it to stop.
TEST_F(MetricsHttpTest, StoppingTheServerDoesNotWaitForCivetWebsPollTimeout) {
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(stream->Finish(absl::Seconds(10)).ok());
  const absl::Time start = absl::Now();
  stream.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(MetricsHttpTest, StartingTheServerLeavesTheProgramsSigchldHandlingAlone) {
  struct sigaction before;
  sigaction(SIGCHLD, nullptr, &before);
  auto stream = Start();
  ASSERT_NE(stream, nullptr);
  struct sigaction after;
  sigaction(SIGCHLD, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "waitpid() of the host program would break";
}

}  // namespace
}  // namespace sift_stream
