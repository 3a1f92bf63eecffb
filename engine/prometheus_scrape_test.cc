// A real Prometheus (Debian's /usr/bin/prometheus) scrapes a stream's /metrics on loopback
// every second, and its query API returns our counter: the format works with the consumer it
// is for, not only with promtool. Bounded: gives up after 30 s.

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/metrics_test_util.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

std::string Config(const std::string& target) {
  return absl::StrCat(
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
      "scrape_configs:\n  - job_name: sift_stream\n    static_configs:\n"
      "      - targets: ['", target, "']\n");
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

TEST_F(SiftStreamTest, RealPrometheusScrapesTheMessagesSentCounter) {
  if (!engine::testing::Executable(kPrometheus)) {
    GTEST_SKIP() << kPrometheus << " not installed (Debian package prometheus; "
                                   "tools/setup.sh installs it)";
  }
  auto stream = Builder().ServeMetrics("127.0.0.1:0").Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 1234);
  ASSERT_TRUE((*stream)->Flush(absl::Seconds(10)).ok());

  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/prometheus");
  const std::string config = dir + ".yml";
  std::ofstream(config) << Config((*stream)->metrics_address());
  const int port = engine::testing::FreeLoopbackPort();
  ASSERT_GT(port, 0);
  const std::string web = absl::StrCat("127.0.0.1:", port);
  const std::string log = dir + ".log";
  auto prometheus = engine::testing::BackgroundProgram::Start(
      {kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + dir,
       "--web.listen-address=" + web, "--log.level=warn"},
      log);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  const std::string query = "/api/v1/query?query=sift_stream_messages_sent_total";
  std::string last;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    ASSERT_TRUE(prometheus->running()) << "prometheus exited:\n" << Tail(log);
    auto answer = engine::testing::HttpGet(web, query);
    if (answer.ok() && answer->code == 200) {
      last = answer->body;
      // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
      //  "value":[<time>,"1234"]}]}}
      if (absl::StrContains(last, "\"1234\"]")) break;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_TRUE(absl::StrContains(last, "\"job\":\"sift_stream\""))
      << "last answer: " << last << "\nprometheus log:\n" << Tail(log);
  EXPECT_TRUE(absl::StrContains(last, "\"1234\"]"))
      << "last answer: " << last << "\nprometheus log:\n" << Tail(log);
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
}

}  // namespace
}  // namespace sift_stream
