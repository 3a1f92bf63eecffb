// io/fault_injection.h — a test-only seam that makes disk operations fail on command.
//
// The backup path's promise (nothing acknowledged or on disk is ever lost, and every failure
// is reported clearly) matters most when the disk misbehaves, and real disks rarely misbehave
// on cue. This seam lets a test say "the 3rd write fails with ENOSPC", "every write from the
// 5th on fails until I say otherwise" or "the 2nd write only writes half its bytes", and then
// drive the whole engine through it, unchanged.
//
// Where it acts. Ring::Start (io/ring.h) consults the installed plan for writes, fsyncs,
// creating opens (O_CREAT), renames and unlinks; AppendFile::Create (io/append_file.h)
// consults it at the open(2) that creates a backup file. Decisions are taken when an operation
// is started, before anything reaches the kernel, so an injected result is what a real one
// would have left behind:
//   - a failure is never submitted: the operation completes on the ring's next turn with
//     -error, and the file is untouched (a real ENOSPC or EIO write may leave part of the bytes
//     behind; readers must cope with that anyway, and this is the cleaner half of the cases);
//   - a short write is really submitted for fewer bytes, so the kernel did write exactly what
//     the result says; the ring then continues the rest as it does for any short write.
//     Under O_DIRECT the shortened length is a multiple of 4096, as the kernel's would be.
//
// Counting. `nth` is 1-based and counts the operations a rule matches (its kind, and its path
// filter if any) from the moment the rule can see them: the plan's installation, or the
// rule's Add() if that is later. An operation is counted once when it starts; the ring's own
// continuation of a short write or retry after EINTR is part of the same operation.
//
// Cost. With no plan installed each hook is one relaxed atomic load.
//
// Thread-safety: a plan may be installed, changed (Add, Clear) and inspected from any thread
// while the ring's thread runs. Standard-library locks only: ThreadSanitizer cannot see inside
// Debian's uninstrumented Abseil. One plan is active at a time; installing a second one while
// the first is active shadows it until the second is uninstalled.
//
// Example:
//
//   io::FaultPlan plan;
//   const int full = plan.Add({.op = io::FaultOp::kWrite, .nth = 3, .error = ENOSPC,
//                              .and_after = true});
//   io::ScopedFaultPlan scoped(&plan);
//   ...  // the 3rd write and every later one fail with ENOSPC
//   plan.Clear(full);  // space comes back
//   EXPECT_GE(plan.fired(full), 1);

#ifndef SIFT_STREAM_IO_FAULT_INJECTION_H_
#define SIFT_STREAM_IO_FAULT_INJECTION_H_

#include <errno.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sift_stream::io {

// Kinds of operation a rule matches. An fdatasync is both kFsync and kDataSync; an fsync is
// both kFsync and kFullSync. kOpen is the creation of a file: AppendFile::Create's open(2) and
// Ring::OpenAt with O_CREAT (opens that only read are never faulted).
enum class FaultOp : uint8_t {
  kWrite,
  kFsync,
  kDataSync,
  kFullSync,
  kOpen,
  kRename,
  kUnlink,
};
inline constexpr int kFaultOpCount = 7;
constexpr uint32_t FaultOpBit(FaultOp op) { return uint32_t{1} << static_cast<int>(op); }

enum class FaultOutcome : uint8_t {
  kFail,        // The operation fails with `error` and does nothing.
  kShortWrite,  // kWrite only: the kernel writes fewer bytes than asked (see the file comment).
};

// One rule. Field order allows designated initializers:
// {.op = FaultOp::kWrite, .nth = 3, .error = ENOSPC}.
struct FaultRule {
  FaultOp op = FaultOp::kWrite;
  // The first matching operation the rule acts on (1-based).
  int64_t nth = 1;
  // The errno of kFail (ENOSPC, EIO, EROFS, EDQUOT, ...). Positive.
  int error = EIO;
  FaultOutcome outcome = FaultOutcome::kFail;
  // Also every later matching operation: a disk that stays full until Clear().
  bool and_after = false;
  // kShortWrite: bytes the write really writes (0: half of it). Rounded down to 4096 under
  // O_DIRECT. A write that cannot be shortened that way (one block) is left whole, and the
  // rule acts on the next matching write instead.
  uint32_t short_write_bytes = 0;
  // Only operations whose path contains this (empty: all). For writes and fsyncs the path is
  // the descriptor's, from /proc/self/fd; for open, rename and unlink it is the path as given
  // (a rename matches on either name).
  std::string path_contains = {};
};

// What the hooks do with one operation. Internal to io/, public for the ring and AppendFile.
struct InjectedFault {
  FaultOutcome outcome = FaultOutcome::kFail;
  int error = 0;             // kFail: the positive errno.
  uint32_t write_bytes = 0;  // kShortWrite: the length to submit instead.
};

// A set of rules and what they did. Construct, Add(), install with ScopedFaultPlan. Must
// outlive its installation.
class FaultPlan {
 public:
  FaultPlan() = default;
  FaultPlan(const FaultPlan&) = delete;
  FaultPlan& operator=(const FaultPlan&) = delete;

  // Adds `rule` and returns its id, for Clear() and fired(). Aborts, naming the problem, on a
  // rule that cannot mean anything (nth < 1, error <= 0, a short write of something other
  // than kWrite): a broken test must not pass silently.
  int Add(FaultRule rule);
  // The rule stops acting from the next operation on (space came back, the disk recovered).
  // What it already did stays done.
  void Clear(int id);
  void ClearAll();

  // Operations the rule acted on.
  int64_t fired(int id) const;
  // Operations of kind `op` seen while the plan was installed (whether or not a rule matched).
  int64_t seen(FaultOp op) const;

  // The hooks' side: counts one operation that is every kind in `kinds` (a FaultOpBit mask)
  // on `path` (may be empty; `path2` is a rename's new name) of `length` bytes (writes) and
  // returns what to do with it, if anything. `direct`: the descriptor is O_DIRECT (writes).
  std::optional<InjectedFault> Decide(uint32_t kinds, const std::string& path,
                                      const std::string& path2, uint32_t length, bool direct);
  // True if some active rule filters on paths (so that the hooks look them up).
  bool wants_paths() const;

 private:
  struct Entry {
    FaultRule rule;
    bool active = true;
    int64_t matched = 0;  // Matching operations seen since the rule was added.
    int64_t fired = 0;
  };

  // The rule acts on the operation it has just counted.
  static bool Due(const Entry& entry);

  mutable std::mutex mu_;
  std::vector<Entry> rules_;            // Guarded by mu_; index = id.
  int64_t seen_[kFaultOpCount] = {};    // Guarded by mu_.
};

// Installs a plan for its lifetime (process-wide). Not movable.
class ScopedFaultPlan {
 public:
  explicit ScopedFaultPlan(FaultPlan* plan);
  ~ScopedFaultPlan();
  ScopedFaultPlan(const ScopedFaultPlan&) = delete;
  ScopedFaultPlan& operator=(const ScopedFaultPlan&) = delete;

 private:
  FaultPlan* previous_;
};

namespace fault_internal {
extern std::atomic<FaultPlan*> active_plan;
}  // namespace fault_internal

// The hooks' fast path: false unless a test installed a plan.
inline bool FaultInjectionActive() {
  return fault_internal::active_plan.load(std::memory_order_relaxed) != nullptr;
}

// The hooks' slow path (only after FaultInjectionActive()). `fd` (or -1) is looked up for its
// path and O_DIRECT flag when a rule needs them; `path`/`path2` may be null. `kinds` is a
// mask of FaultOpBit()s.
std::optional<InjectedFault> DecideFault(uint32_t kinds, int fd,
                                         const char* path, const char* path2, uint32_t length);

// "write", "fdatasync", ... for test messages.
const char* FaultOpName(FaultOp op);

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_FAULT_INJECTION_H_
