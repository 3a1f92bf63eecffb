// engine/backup_manager_test_fixture.h — the fixture and helpers shared by the backup
// manager's test files (backup_manager_test.cc, backup_manager_boundary_test.cc), which build
// into the one test //engine:backup_manager_test. Test-only.

#ifndef SIFT_STREAM_ENGINE_BACKUP_MANAGER_TEST_FIXTURE_H_
#define SIFT_STREAM_ENGINE_BACKUP_MANAGER_TEST_FIXTURE_H_

#include <dirent.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/backup_manager.h"
#include "gtest/gtest.h"
#include "io/pbfs_encoder.h"
#include "io/pbfs_reader.h"
#include "io/ring.h"

namespace sift_stream::engine::backup_test {

inline std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Message i: distinct, of varying length, so a lost, repeated or misplaced one shows.
inline std::string Message(int i) {
  return absl::StrFormat("message %06d %s", i, std::string(i % 61, 'a' + i % 26));
}

inline std::vector<std::string> Messages(int first, int last) {
  std::vector<std::string> messages;
  for (int i = first; i < last; ++i) messages.push_back(Message(i));
  return messages;
}

// The bytes the manager must write for messages [first, last): a chunk sealed whenever it
// reaches `target`, and the rest sealed when the checkpoint ends.
inline std::string ExpectedBytes(int first, int last, size_t target) {
  io::PbfsChunkEncoder encoder;
  std::string bytes;
  for (int i = first; i < last; ++i) {
    EXPECT_TRUE(encoder.Add(Message(i)).ok());
    if (encoder.size_bytes() >= target) {
      absl::StrAppend(&bytes, encoder.Seal());
      encoder.Reset();
    }
  }
  if (!encoder.empty()) absl::StrAppend(&bytes, encoder.Seal());
  return bytes;
}

// A tmpfs mounted on a fresh directory for one test, unmounted at the end. `error` says why
// not when the mount failed (no CAP_SYS_ADMIN, say).
struct ScopedTmpfs {
  ScopedTmpfs(const std::string& name, const char* options, unsigned long flags = 0)
      : dir(TestDir() + "/" + name) {
    mkdir(dir.c_str(), 0700);
    mounted = mount("tmpfs", dir.c_str(), "tmpfs", flags, options) == 0;
    if (!mounted) error = std::strerror(errno);
  }
  ~ScopedTmpfs() {
    if (mounted) umount2(dir.c_str(), MNT_DETACH);
  }
  std::string dir;
  bool mounted = false;
  std::string error;
};

class BackupManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ring = io::Ring::Create(64);
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = std::move(ring).value();
    dir_ = absl::StrCat(TestDir(), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << std::strerror(errno);
    bus_.Subscribe([this](const ControlMessage& m) { seen_.push_back(m); });
  }

  DiskBackupPolicy Policy(uint64_t max_file_size_bytes, bool retain) const {
    DiskBackupPolicy policy;
    policy.backup_dir = dir_;
    policy.max_file_size_bytes = max_file_size_bytes;
    policy.retain_backups = retain;
    return policy;
  }

  // Small chunks by default, so that a few hundred messages make several chunks and files.
  // `buffer_bytes`, if set, gives the file two buffers of that size: tiny ones push back.
  std::unique_ptr<BackupManager> Make(const DiskBackupPolicy& policy,
                                      size_t chunk_target_bytes = 1024, size_t buffer_bytes = 0) {
    BackupManagerOptions options;
    options.chunk_target_bytes = chunk_target_bytes;
    if (buffer_bytes != 0) {
      options.file.buffer_size_bytes = buffer_bytes;
      options.file.buffer_count = 2;
    }
    auto manager = BackupManager::Create(*ring_, bus_, policy, "s", options);
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? std::move(manager).value() : nullptr;
  }

  // Appends messages [first, last) as the reactor would: on Unavailable, turn the ring once
  // and try the same message again.
  void AppendRange(BackupManager& manager, int first, int last) {
    for (int i = first, turns = 0; i < last;) {
      absl::Status s = manager.Append(Message(i));
      if (absl::IsUnavailable(s)) {
        ++unavailable_;
        EXPECT_FALSE(manager.accepting());
        ASSERT_LT(++turns, 100000) << "the manager never took message " << i;
        ASSERT_TRUE(ring_->RunOnce(absl::Seconds(1)).ok());
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      ++i;
    }
  }

  void Send(ControlKind kind, uint64_t checkpoint) {
    ControlMessage message;
    message.kind = kind;
    message.checkpoint = checkpoint;
    bus_.Publish(std::move(message));
    bus_.Deliver();
  }

  // Runs the ring until the manager has nothing in flight, then delivers what it published.
  void Settle(BackupManager& manager) {
    absl::Status s = io::RunUntil(
        *ring_, [&] { return manager.idle(); }, absl::Seconds(10), "the backup manager");
    ASSERT_TRUE(s.ok()) << s << " in state " << BackupStateName(manager.state());
    bus_.Deliver();
  }

  std::vector<ControlMessage> Seen(ControlKind kind) const {
    std::vector<ControlMessage> out;
    for (const ControlMessage& m : seen_) {
      if (m.kind == kind) out.push_back(m);
    }
    return out;
  }

  // The names of the backup files in dir_, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".pbfs") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  // The names of checkpoint `checkpoint`'s backup files in dir_, in write order.
  std::vector<std::string> FilesOf(uint64_t checkpoint) const {
    const std::string prefix = absl::StrFormat("s-%06d-", checkpoint);
    std::vector<std::string> names;
    for (const std::string& name : Files()) {
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
    return names;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::vector<std::string> Paths(const std::vector<std::string>& names) const {
    std::vector<std::string> paths;
    for (const std::string& name : names) paths.push_back(Path(name));
    return paths;
  }

  // Reads a closed backup file, which must end exactly at its last chunk: no padding.
  std::vector<std::string> ReadClean(const std::string& name) const {
    auto contents = io::ReadPbfsFile(Path(name), io::PbfsReadMode::kStrict);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (!contents.ok()) return {};
    EXPECT_EQ(contents->report.end, io::PbfsEnd::kClean)
        << name << ": " << contents->report.problem;
    EXPECT_EQ(contents->report.file_size_bytes, contents->report.bytes_read) << name;
    return contents->messages;
  }

  // The messages of closed backup files `names`, in order.
  std::vector<std::string> ReadAllClean(const std::vector<std::string>& names) const {
    std::vector<std::string> messages;
    for (const std::string& name : names) {
      for (std::string& m : ReadClean(name)) messages.push_back(std::move(m));
    }
    return messages;
  }

  std::unique_ptr<io::Ring> ring_;
  ControlBus bus_;
  std::string dir_;
  std::vector<ControlMessage> seen_;
  int unavailable_ = 0;
};

}  // namespace sift_stream::engine::backup_test

#endif  // SIFT_STREAM_ENGINE_BACKUP_MANAGER_TEST_FIXTURE_H_
