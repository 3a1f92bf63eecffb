// engine/sift_stream_test_fixture.h — the end-to-end fixture: an in-process fake Sift, a
// fresh backup directory per test, a builder with short checkpoints and backoffs, and the
// lossless check (unique committed == sent).

#ifndef SIFT_STREAM_ENGINE_SIFT_STREAM_TEST_FIXTURE_H_
#define SIFT_STREAM_ENGINE_SIFT_STREAM_TEST_FIXTURE_H_

#include <dirent.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"
#include "testing/fake_sift.h"

namespace sift_stream {

using testing::FakeSift;
using testing::FakeSiftOptions;
using testing::FaultPlan;

inline constexpr char kKey[] = "sift-stream-test";

// Every message glog emits, whatever the severity and whether or not it goes to stderr.
class LogCapture : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t length) override {
    std::lock_guard<std::mutex> lock(mu_);
    text_.append(message, length).append("\n");
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};


inline int CountFiles(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) n += absl::EndsWith(e->d_name, ".pbfs") ? 1 : 0;
    closedir(d);
  }
  return n;
}

// Sends message `i` of flow "f" (timestamp 1764000000000000 + i µs, values i and -i),
// retrying while the stream refuses for want of room; returns what Send finally said.
inline absl::Status SendNumbered(SiftStream& stream, int64_t i) {
  const absl::Time t = absl::FromUnixMicros(1764000000000000 + i);
  const double v = static_cast<double>(i);
  absl::Status s;
  while (absl::IsResourceExhausted(
      s = stream.Send("f", t, {ChannelValue::Double(v), ChannelValue::Double(-v)}))) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return s;
}

// Messages in the .pbfs files of `dir`, read the way recovery reads them.
inline int64_t MessagesOnDisk(const std::string& dir) {
  int64_t messages = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    if (!absl::EndsWith(e->d_name, ".pbfs")) continue;
    auto reader = io::PbfsReader::OpenFile(absl::StrCat(dir, "/", e->d_name),
                                           io::PbfsReadMode::kSalvage);
    if (!reader.ok()) continue;
    absl::string_view message;
    while ((*reader)->Next(&message)) ++messages;
  }
  closedir(d);
  return messages;
}

inline void RemoveBackupFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".pbfs")) unlink(absl::StrCat(dir, "/", e->d_name).c_str());
  }
  closedir(d);
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

inline void SendRange(SiftStream& stream, int from, int to) {
  for (int i = from; i < to; ++i) {
    const absl::Status s = SendNumbered(stream, i);
    ASSERT_TRUE(s.ok()) << s;
  }
}

class SiftStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {kKey};
    sift_ = std::move(FakeSift::Start(options)).value();
    backup_dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(backup_dir_.c_str(), 0700);
  }

  SiftStreamBuilder Builder() {
    IngestionConfigSpec config;
    config.asset_name = "rig";
    config.client_key = "rig-v1";
    sift::ingestion_configs::v2::FlowConfig flow;
    flow.set_name("f");
    for (const char* name : {"a", "b"}) {
      auto* channel = flow.add_channels();
      channel->set_name(name);
      channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
    }
    config.flows = {flow};
    DiskBackupPolicy backups;
    backups.backup_dir = backup_dir_;
    backups.max_file_size_bytes = 1 << 20;
    RetryPolicy retry;
    retry.initial_backoff = absl::Milliseconds(20);
    retry.max_backoff = absl::Milliseconds(200);
    SiftStreamBuilder builder;
    builder.Uri(sift_->address()).ApiKey(kKey).Tls(false).IngestionConfig(config).Backups(backups)
        .CheckpointInterval(absl::Milliseconds(200)).AckTimeout(absl::Seconds(2))
        .LiveRetry(retry).ReingestRetry(retry);
    return builder;
  }

  // Sends `count` messages with unique timestamps from `producers` threads.
  void SendAll(SiftStream& stream, int producers, int count) {
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = p; i < count; i += producers) {
          const absl::Status s = SendNumbered(stream, i);
          ASSERT_TRUE(s.ok()) << s;
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  void ExpectNothingLost(int sent) {
    const auto stats = sift_->Stats().ingest;
    EXPECT_EQ(stats.committed_messages, sent) << stats.ToJson();
    EXPECT_EQ(stats.invalid_messages, 0);
    std::printf("sent %d, committed %lld, duplicates %lld\n", sent,
                static_cast<long long>(stats.committed_messages),
                static_cast<long long>(stats.duplicate_messages));
  }

  std::unique_ptr<FakeSift> sift_;
  std::string backup_dir_;
};

}  // namespace sift_stream

#endif  // SIFT_STREAM_ENGINE_SIFT_STREAM_TEST_FIXTURE_H_
