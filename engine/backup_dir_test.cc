// The backup directory's checks, lock and file order, on real directories.
#include "engine/backup_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(dir.c_str(), 0700);
  return dir;
}

void Touch(const std::string& path) { close(creat(path.c_str(), 0600)); }

TEST(BackupFileOrderTest, CheckpointsAndFilesCompareAsNumbersPastTheirPadding) {
  std::vector<std::string> names = {
      "b-000002-0001.pbfs", "a-1000000-0001.pbfs", "a-999999-0002.pbfs",
      "a-999999-10000.pbfs", "a-999999-9999.pbfs", "notes.pbfs",
      "a-000001-0001.pbfs", "/d/a-000010-0001.pbfs"};
  std::sort(names.begin(), names.end(), BackupFileWrittenBefore);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "a-000001-0001.pbfs", "/d/a-000010-0001.pbfs", "a-999999-0002.pbfs",
                       "a-999999-9999.pbfs", "a-999999-10000.pbfs", "a-1000000-0001.pbfs",
                       "b-000002-0001.pbfs", "notes.pbfs"}));
}

TEST(BackupFileOrderTest, LeftoversOfSeveralStreamsComeInWriteOrder) {
  const std::string dir = FreshDir("order");
  for (const char* name : {"0190-1000000-0001.pbfs", "0190-999999-0001.pbfs",
                           "0200-000001-0001.pbfs", "mine-000001-0001.pbfs"}) {
    Touch(absl::StrCat(dir, "/", name));
  }
  EXPECT_EQ(LeftoverBackupFiles(dir, "mine"),
            (std::vector<std::string>{absl::StrCat(dir, "/0190-999999-0001.pbfs"),
                                      absl::StrCat(dir, "/0190-1000000-0001.pbfs"),
                                      absl::StrCat(dir, "/0200-000001-0001.pbfs")}));
}

TEST(AbsoluteBackupDirTest, RelativeDirsAreTakenFromTheCurrentDirectoryNow) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(*AbsoluteBackupDir("backups/"), absl::StrCat(cwd, "/backups"));
  EXPECT_EQ(*AbsoluteBackupDir("/var/lib/x//"), "/var/lib/x");
  EXPECT_EQ(*AbsoluteBackupDir("/"), "/");
}

TEST(CheckAndLockBackupDirTest, HoldsTheLockUntilClosedAndNamesWhatIsWrong) {
  const std::string dir = FreshDir("locked");
  absl::StatusOr<int> first = CheckAndLockBackupDir(dir, ".probe");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<int> second = CheckAndLockBackupDir(dir, ".probe");
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  close(*first);
  absl::StatusOr<int> third = CheckAndLockBackupDir(dir, ".probe");
  ASSERT_TRUE(third.ok()) << third.status();
  close(*third);
  EXPECT_TRUE(absl::IsNotFound(CheckAndLockBackupDir(dir + "/missing", ".probe").status()));
}

}  // namespace
}  // namespace sift_stream::engine
