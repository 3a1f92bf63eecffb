// The formats behind /metrics and /status, without HTTP: every metric present once with its
// HELP and TYPE, counters named as counters, promtool's verdict, HTML escaping, rates, and
// the listen-address parser.

#include "engine/metrics_text.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "engine/metrics_http.h"
#include "engine/metrics_test_util.h"
#include "engine/status_page.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

using testing::SampleValue;

// Every field non-zero and distinct, so that a swapped field shows.
SiftStreamMetrics Busy() {
  SiftStreamMetrics m;
  m.messages_sent = 1001;
  m.bytes_sent = 142142;
  m.messages_refused = 3;
  m.messages_written_live = 990;
  m.messages_acknowledged = 980;
  m.messages_dropped_live = 10;
  m.messages_backed_up = 1000;
  m.bytes_backed_up = 142000;
  m.messages_durable = 900;
  m.messages_reingested = 21;
  m.recovery_files_found = 5;
  m.backup_files_recovered = 2;
  m.messages_recovered = 11;
  m.checkpoints_ok = 7;
  m.checkpoints_failed = 1;
  m.last_checkpoint_duration = absl::Milliseconds(250);
  m.live_streams_failed = 2;
  m.ack_timeouts = 1;
  m.retries = 4;
  m.current_backoff = absl::Milliseconds(400);
  m.reingest_jobs_done = 6;
  m.reingest_jobs_failed = 1;
  m.reingest_jobs_pending = 2;
  m.backup_files_created = 9;
  m.backup_files_deleted = 8;
  m.backup_rotations = 2;
  m.backup_files_buffered = 1;
  m.backup_disk_full = true;
  m.backup_disk_full_stalls = 3;
  m.memory_backup_bytes = 65536;
  m.memory_backup_messages = 400;
  m.memory_backup_full = true;
  m.memory_backup_full_stalls = 5;
  m.memory_backup_messages_lost = 6;
  m.send_queue_depth = 12;
  m.live_queue_depth = 13;
  m.errors = 2;
  m.reactor_cpu_ns = 1500000000;
  m.last_error = "disk <full> & \"angry\"";
  return m;
}

std::vector<std::string> Lines(const std::string& text, absl::string_view prefix) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, prefix)) out.emplace_back(line);
  }
  return out;
}

TEST(PrometheusTextTest, EveryFamilyHasHelpTypeAndOneSampleNamedForItsType) {
  BackupDirUsage disk{true, 4, 8192};
  const std::string text = PrometheusText(Busy(), disk);
  std::set<std::string> families;
  for (const std::string& line : Lines(text, "# TYPE ")) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    ASSERT_EQ(f.size(), 4u) << line;
    const std::string& name = f[2];
    EXPECT_TRUE(families.insert(name).second) << "declared twice: " << name;
    EXPECT_TRUE(absl::StartsWith(name, "sift_stream_")) << name;
    // Counters end in _total; nothing else does (promtool would flag both).
    EXPECT_EQ(f[3] == "counter", absl::EndsWith(name, "_total")) << line;
    EXPECT_TRUE(f[3] == "counter" || f[3] == "gauge") << line;
    EXPECT_TRUE(absl::StrContains(text, "# HELP " + name + " ")) << name;
    EXPECT_TRUE(SampleValue(text, name).has_value()) << name;
  }
  // The 38 numeric fields of SiftStreamMetrics (last_error is text), plus
  // recovery_files_pending and the two backup_dir gauges. A new field must be added here.
  EXPECT_EQ(families.size(), 41u) << text;
}

TEST(PrometheusTextTest, ValuesLandInTheRightFamilyWithBaseUnits) {
  const std::string text = PrometheusText(Busy(), BackupDirUsage{true, 4, 8192});
  EXPECT_EQ(SampleValue(text, "sift_stream_messages_sent_total"), 1001);
  EXPECT_EQ(SampleValue(text, "sift_stream_sent_bytes_total"), 142142);
  EXPECT_EQ(SampleValue(text, "sift_stream_messages_durable_total"), 900);
  EXPECT_EQ(SampleValue(text, "sift_stream_checkpoints_failed_total"), 1);
  EXPECT_EQ(SampleValue(text, "sift_stream_last_checkpoint_duration_seconds"), 0.25);
  EXPECT_EQ(SampleValue(text, "sift_stream_live_backoff_seconds"), 0.4);
  EXPECT_EQ(SampleValue(text, "sift_stream_reactor_cpu_seconds_total"), 1.5);
  EXPECT_EQ(SampleValue(text, "sift_stream_backup_disk_full"), 1);
  EXPECT_EQ(SampleValue(text, "sift_stream_memory_backup_bytes"), 65536);
  EXPECT_EQ(SampleValue(text, "sift_stream_memory_backup_messages"), 400);
  EXPECT_EQ(SampleValue(text, "sift_stream_memory_backup_full"), 1);
  EXPECT_EQ(SampleValue(text, "sift_stream_memory_backup_full_stalls_total"), 5);
  EXPECT_EQ(SampleValue(text, "sift_stream_memory_backup_messages_lost_total"), 6);
  EXPECT_EQ(SampleValue(text, "sift_stream_send_queue_messages"), 12);
  EXPECT_EQ(SampleValue(text, "sift_stream_recovery_files_pending"), 3);
  EXPECT_EQ(SampleValue(text, "sift_stream_reingest_jobs_pending"), 2);
  EXPECT_EQ(SampleValue(text, "sift_stream_backup_dir_files"), 4);
  EXPECT_EQ(SampleValue(text, "sift_stream_backup_dir_bytes"), 8192);
}

TEST(PrometheusTextTest, LastErrorTextNeverReachesMetrics) {
  const std::string text = PrometheusText(Busy(), BackupDirUsage{});
  EXPECT_FALSE(absl::StrContains(text, "angry"));
  EXPECT_FALSE(SampleValue(text, "sift_stream_backup_dir_files").has_value())
      << "an unreadable directory must not read as empty";
}

TEST(PrometheusTextTest, PromtoolAcceptsIt) {
  if (!testing::Executable("/usr/bin/promtool")) {
    GTEST_SKIP() << "/usr/bin/promtool not installed (Debian package prometheus; "
                    "tools/setup.sh installs it)";
  }
  for (const BackupDirUsage& disk : {BackupDirUsage{true, 4, 8192}, BackupDirUsage{}}) {
    auto result = testing::RunProgram({"/usr/bin/promtool", "check", "metrics"},
                                      PrometheusText(Busy(), disk));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 0) << result->output;
  }
}

TEST(StatusPageTest, ErrorTextFromServersIsEscapedNotInjected) {
  StatusPageData data;
  data.stream_id = "s<1>";
  data.backup_dir = "/var/<b>";
  data.metrics = Busy();
  data.metrics.last_error = "<script>alert('x')</script>";
  CheckpointOutcome failed;
  failed.checkpoint = 7;
  failed.detail = "stream failed: <img src=x>";
  data.checkpoints = {failed};
  data.now = absl::Now();
  const std::string html = StatusPageHtml(data);
  EXPECT_FALSE(absl::StrContains(html, "<script>"));
  EXPECT_FALSE(absl::StrContains(html, "<img"));
  EXPECT_FALSE(absl::StrContains(html, "<b>"));
  EXPECT_TRUE(absl::StrContains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  EXPECT_TRUE(absl::StrContains(html, "s&lt;1&gt;"));
}

TEST(StatusPageTest, RefreshesItselfAndShowsBacklogDiskFullAndNewestCheckpointFirst) {
  StatusPageData data;
  data.stream_id = "abc";
  data.backup_dir = "/data";
  data.metrics = Busy();
  data.disk = BackupDirUsage{true, 4, 8192};
  data.now = absl::Now();
  for (uint64_t k = 1; k <= 3; ++k) {
    CheckpointOutcome c;
    c.checkpoint = k;
    c.messages = 100 * k;
    c.acknowledged = k != 2;
    c.detail = k != 2 ? "acknowledged" : "no progress from Sift within ack_timeout";
    c.ended = data.now - absl::Seconds(4 - k);
    data.checkpoints.push_back(c);
  }
  const std::string html = StatusPageHtml(data);
  EXPECT_TRUE(absl::StrContains(html, "<meta http-equiv=\"refresh\" content=\"1\">"));
  EXPECT_TRUE(absl::StrContains(html, "4 files, 8192 bytes"));
  EXPECT_TRUE(absl::StrContains(html, "YES: Send refuses"));
  EXPECT_TRUE(absl::StrContains(html, "<th>not yet durable on disk</th><td>101 msgs"));
  EXPECT_TRUE(absl::StrContains(html, "<th>send queue</th><td>12 msgs"));
  EXPECT_TRUE(absl::StrContains(html, "ack_timeout"));
  EXPECT_LT(html.find("<td>300</td>"), html.find("<td>100</td>")) << "newest first";
}

TEST(RateWindowTest, RatesComeFromTheOldestSampleInTheSpan) {
  RateWindow window(absl::Seconds(5));
  SiftStreamMetrics m;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  window.Add(t0, m);
  EXPECT_FALSE(window.Rates().known) << "one sample says nothing";
  for (int s = 1; s <= 10; ++s) {
    m.messages_sent += 1000;
    m.messages_acknowledged += 500;
    window.Add(t0 + absl::Seconds(s), m);
  }
  const StatusRates rates = window.Rates();
  ASSERT_TRUE(rates.known);
  EXPECT_EQ(rates.window, absl::Seconds(5));
  EXPECT_DOUBLE_EQ(rates.sent_per_second, 1000);
  EXPECT_DOUBLE_EQ(rates.acknowledged_per_second, 500);
}

TEST(RateWindowTest, SamplesTooCloseTogetherGiveNoRateRatherThanANoisyOne) {
  RateWindow window;
  SiftStreamMetrics m;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  window.Add(t0, m);
  m.messages_sent = 50;
  window.Add(t0 + absl::Milliseconds(10), m);
  EXPECT_FALSE(window.Rates().known);
}

TEST(ParseListenAddressTest, AcceptsIpPortLocalhostAndBracketedIpv6) {
  auto a = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto b = ParseListenAddress("localhost:0");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 0);
  auto c = ParseListenAddress("[::1]:80");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->ipv6);
  EXPECT_EQ(c->host, "::1");
}

TEST(ParseListenAddressTest, MalformedAddressesAreInvalidArgumentSayingWhatIsExpected) {
  for (const char* bad : {"9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:94a", "host.example:80", ":80", "[::1:80", "1.2.3:80"}) {
    auto parsed = ParseListenAddress(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << bad;
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "127.0.0.1:9464")) << bad;
  }
}

TEST(HtmlEscapeTest, EscapesTheFiveCharactersThatMatter) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

}  // namespace
}  // namespace sift_stream::engine
