// engine/io_fault_test_fixture.h — what the disk-fault tests share: an in-process fake Sift,
// a backup directory per test, a builder with short checkpoints, sending that stops at the
// first refusal, and the lossless check (every accepted message committed or on disk, or
// Finish says DataLoss). Used by io_fault_test.cc and io_fault_flush_test.cc.

#ifndef SIFT_STREAM_ENGINE_IO_FAULT_TEST_FIXTURE_H_
#define SIFT_STREAM_ENGINE_IO_FAULT_TEST_FIXTURE_H_

#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "io/fault_injection.h"
#include "io/pbfs_reader.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "testing/fake_sift.h"

namespace sift_stream::io_fault_test {

using io::FaultOp;
using io::FaultOutcome;
using io::ScopedFaultPlan;
using testing::FakeSift;
using testing::FakeSiftOptions;

inline constexpr char kKey[] = "io-fault-test";
inline constexpr int64_t kFirstMicros = 1764000000000000;
// Each test stops sending once Send() is refused for good or after this many messages.
inline constexpr int kMaxMessages = 200000;

inline absl::Time TimestampOf(int i) { return absl::FromUnixMicros(kFirstMicros + i); }

inline std::vector<std::string> BackupFiles(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (absl::EndsWith(e->d_name, ".pbfs")) files.push_back(absl::StrCat(dir, "/", e->d_name));
    }
    closedir(d);
  }
  return files;
}

// What the backup files hold: how often each message index appears, and whether every file
// read clean (a failed write may leave a torn tail, which salvage reading steps over).
struct DiskContents {
  absl::flat_hash_map<int, int> copies;
  int files = 0;
  int damaged_files = 0;
  std::string damage;
};

inline DiskContents ReadBackups(const std::string& dir) {
  DiskContents disk;
  for (const std::string& path : BackupFiles(dir)) {
    ++disk.files;
    auto contents = io::ReadPbfsFile(path, io::PbfsReadMode::kSalvage);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (!contents.ok()) continue;
    if (contents->report.end != io::PbfsEnd::kClean) {
      ++disk.damaged_files;
      absl::StrAppend(&disk.damage, path, ": ", io::PbfsEndName(contents->report.end), "; ");
    }
    for (const std::string& bytes : contents->messages) {
      sift::ingest::v1::IngestWithConfigDataStreamRequest request;
      EXPECT_TRUE(request.ParseFromString(bytes)) << path;
      const int64_t micros = request.timestamp().seconds() * 1000000 +
                             request.timestamp().nanos() / 1000;
      ++disk.copies[static_cast<int>(micros - kFirstMicros)];
    }
  }
  return disk;
}

class IoFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {kKey};
    auto sift = FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(sift).value();
    backup_dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(backup_dir_.c_str(), 0700);
  }

  DiskBackupPolicy Policy() const {
    DiskBackupPolicy backups;
    backups.backup_dir = backup_dir_;
    backups.max_file_size_bytes = 1 << 20;
    return backups;
  }

  SiftStreamBuilder Builder(DiskBackupPolicy backups) {
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
    RetryPolicy retry;
    retry.initial_backoff = absl::Milliseconds(20);
    retry.max_backoff = absl::Milliseconds(200);
    SiftStreamBuilder builder;
    builder.Uri(sift_->address()).ApiKey(kKey).Tls(false).IngestionConfig(config)
        .Backups(std::move(backups)).CheckpointInterval(absl::Milliseconds(100))
        .AckTimeout(absl::Seconds(2)).LiveRetry(retry).ReingestRetry(retry);
    return builder;
  }

  // Sends messages next_..until `until` (exclusive), paced so that the stream spans several
  // checkpoints and backup writes, retrying while Send says ResourceExhausted (the queue is
  // full). Stops at the first other refusal and returns it; OK if every message was taken.
  absl::Status SendUntil(SiftStream& stream, int until) {
    for (; next_ < until; ++next_) {
      absl::Status s;
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      do {
        s = stream.Send("f", TimestampOf(next_),
                        {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
        if (absl::IsResourceExhausted(s)) absl::SleepFor(absl::Milliseconds(1));
      } while (absl::IsResourceExhausted(s) && absl::Now() < give_up);
      if (!s.ok()) return s;
      ++accepted_;
      if (next_ % 200 == 199) absl::SleepFor(absl::Milliseconds(1));
    }
    return absl::OkStatus();
  }

  // Sends until a refusal that is not back-pressure, or kMaxMessages.
  absl::Status SendUntilRefused(SiftStream& stream) { return SendUntil(stream, kMaxMessages); }

  bool Committed(const SiftStream& stream, int i) const {
    const absl::Time t = TimestampOf(i);
    testing::MessageKey key;
    key.ingestion_config_id = stream.ingestion_config_id();
    key.flow = "f";
    key.timestamp_seconds = absl::ToUnixSeconds(t);
    key.timestamp_nanos =
        static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(
                                                              key.timestamp_seconds)));
    key.run_id = stream.run_id();
    return sift_->recorder().Committed(key);
  }

  // The lossless check: every accepted message (indices 0..accepted_-1: one producer, in
  // order) is committed at the server or held by a backup file. Returns how many are neither,
  // so that a test can hold Finish() to saying DataLoss about them.
  int CountLost(const SiftStream& stream, const DiskContents& disk) {
    int committed = 0, only_on_disk = 0, lost = 0, first_lost = -1;
    for (int i = 0; i < accepted_; ++i) {
      if (Committed(stream, i)) {
        ++committed;
      } else if (disk.copies.contains(i)) {
        ++only_on_disk;
      } else {
        if (first_lost < 0) first_lost = i;
        ++lost;
      }
    }
    std::printf("accepted %d: committed %d, only on disk %d, neither %d (first %d); "
                "%d file(s), %d damaged %s\n",
                accepted_, committed, only_on_disk, lost, first_lost, disk.files,
                disk.damaged_files, disk.damage.c_str());
    return lost;
  }

  // What every test expects of Finish() after the backup disk failed: OK only if every
  // accepted message was committed; DataLoss if any is neither committed nor on disk;
  // otherwise (Unavailable) it names the files it keeps, which must exist.
  void ExpectHonestFinish(const absl::Status& finished, const SiftStream& stream) {
    const int lost = CountLost(stream, ReadBackups(backup_dir_));
    std::printf("Finish: %s\n", finished.ToString().c_str());
    if (finished.ok()) {
      EXPECT_EQ(lost, 0) << "Finish said OK";
      EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
    } else if (lost > 0) {
      EXPECT_TRUE(absl::IsDataLoss(finished)) << lost << " message(s) lost: " << finished;
    } else if (!absl::IsDataLoss(finished)) {
      EXPECT_TRUE(absl::IsUnavailable(finished)) << finished;
      for (const std::string& file : BackupFiles(backup_dir_)) {
        EXPECT_TRUE(absl::StrContains(finished.message(), file)) << file << " not named";
      }
    }
  }

  // Send()'s refusal once a backup operation failed: terminal, naming the backup file and the
  // error, and saying what to do.
  static void ExpectClearRefusal(const absl::Status& refused, absl::string_view error_text) {
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "backup disk failed")) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), error_text)) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "fix the disk and start a new stream"))
        << refused;
  }

  std::unique_ptr<FakeSift> sift_;
  std::string backup_dir_;
  int next_ = 0;      // Index (and timestamp) of the next message to send.
  int accepted_ = 0;  // Messages Send() accepted.
};

}  // namespace sift_stream::io_fault_test

#endif  // SIFT_STREAM_ENGINE_IO_FAULT_TEST_FIXTURE_H_
