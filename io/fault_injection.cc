#include "io/fault_injection.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace sift_stream::io {

namespace fault_internal {
std::atomic<FaultPlan*> active_plan{nullptr};
}  // namespace fault_internal

namespace {

// Held by installation and by every decision: a plan cannot be uninstalled (and destroyed)
// while a hook is using it.
std::mutex& InstallMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

constexpr uint32_t kDirectWriteGranule = 4096;

[[noreturn]] void BadRule(const FaultRule& rule, const char* why) {
  std::fprintf(stderr, "io::FaultPlan::Add: a %s rule %s\n", FaultOpName(rule.op), why);
  std::abort();
}

bool Matches(const FaultRule& rule, uint32_t kinds, const std::string& path,
             const std::string& path2) {
  if ((kinds & FaultOpBit(rule.op)) == 0) return false;
  if (rule.path_contains.empty()) return true;
  return path.find(rule.path_contains) != std::string::npos ||
         path2.find(rule.path_contains) != std::string::npos;
}

// The length a short write really writes, or nullopt if this write cannot be shortened
// honestly (an O_DIRECT write must stay block-aligned).
std::optional<uint32_t> ShortLength(const FaultRule& rule, uint32_t length, bool direct) {
  uint32_t bytes = rule.short_write_bytes != 0 ? rule.short_write_bytes : length / 2;
  if (direct) bytes -= bytes % kDirectWriteGranule;
  if (bytes == 0 || bytes >= length) return std::nullopt;
  return bytes;
}

std::string PathOfFd(int fd) {
  char buffer[4096];
  const std::string link = absl::StrCat("/proc/self/fd/", fd);
  const ssize_t n = readlink(link.c_str(), buffer, sizeof(buffer));
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

}  // namespace

const char* FaultOpName(FaultOp op) {
  switch (op) {
    case FaultOp::kWrite:
      return "write";
    case FaultOp::kFsync:
      return "fsync (any)";
    case FaultOp::kDataSync:
      return "fdatasync";
    case FaultOp::kFullSync:
      return "fsync";
    case FaultOp::kOpen:
      return "create";
    case FaultOp::kRename:
      return "rename";
    case FaultOp::kUnlink:
      return "unlink";
  }
  return "?";
}

int FaultPlan::Add(FaultRule rule) {
  if (rule.nth < 1) BadRule(rule, "needs nth >= 1 (it counts from 1)");
  if (rule.outcome == FaultOutcome::kFail && rule.error <= 0) {
    BadRule(rule, "needs a positive errno in .error");
  }
  if (rule.outcome == FaultOutcome::kShortWrite && rule.op != FaultOp::kWrite) {
    BadRule(rule, "cannot be a short write: only writes can be short");
  }
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(Entry{std::move(rule)});
  return static_cast<int>(rules_.size()) - 1;
}

void FaultPlan::Clear(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id >= 0 && id < static_cast<int>(rules_.size())) rules_[id].active = false;
}

void FaultPlan::ClearAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Entry& entry : rules_) entry.active = false;
}

int64_t FaultPlan::fired(int id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return id >= 0 && id < static_cast<int>(rules_.size()) ? rules_[id].fired : 0;
}

int64_t FaultPlan::seen(FaultOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_[static_cast<int>(op)];
}

bool FaultPlan::wants_paths() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& entry : rules_) {
    if (entry.active && !entry.rule.path_contains.empty()) return true;
  }
  return false;
}

bool FaultPlan::Due(const Entry& entry) {
  if (entry.rule.and_after) return entry.matched >= entry.rule.nth;
  // A one-shot short write that could not shorten its nth write acts on the next one.
  if (entry.rule.outcome == FaultOutcome::kShortWrite) {
    return entry.matched >= entry.rule.nth && entry.fired == 0;
  }
  return entry.matched == entry.rule.nth;
}

std::optional<InjectedFault> FaultPlan::Decide(uint32_t kinds, const std::string& path,
                                               const std::string& path2, uint32_t length,
                                               bool direct) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int op = 0; op < kFaultOpCount; ++op) {
    if ((kinds & (uint32_t{1} << op)) != 0) ++seen_[op];
  }
  // Every matching rule counts the operation, even when an earlier rule already acts on it,
  // so that each rule's nth means the same whatever else the plan holds.
  std::optional<InjectedFault> decision;
  for (Entry& entry : rules_) {
    if (!entry.active || !Matches(entry.rule, kinds, path, path2)) continue;
    ++entry.matched;
    const FaultRule& rule = entry.rule;
    if (!Due(entry) || decision.has_value()) continue;
    if (rule.outcome == FaultOutcome::kFail) {
      decision = InjectedFault{FaultOutcome::kFail, rule.error, 0};
    } else if (std::optional<uint32_t> bytes = ShortLength(rule, length, direct)) {
      decision = InjectedFault{FaultOutcome::kShortWrite, 0, *bytes};
    } else {
      continue;
    }
    ++entry.fired;
  }
  return decision;
}

ScopedFaultPlan::ScopedFaultPlan(FaultPlan* plan) {
  std::lock_guard<std::mutex> lock(InstallMutex());
  previous_ = fault_internal::active_plan.load(std::memory_order_relaxed);
  fault_internal::active_plan.store(plan, std::memory_order_relaxed);
}

ScopedFaultPlan::~ScopedFaultPlan() {
  std::lock_guard<std::mutex> lock(InstallMutex());
  fault_internal::active_plan.store(previous_, std::memory_order_relaxed);
}

std::optional<InjectedFault> DecideFault(uint32_t kinds, int fd, const char* path,
                                         const char* path2, uint32_t length) {
  // The install mutex orders this against (un)installation; the relaxed loads need no more.
  std::lock_guard<std::mutex> lock(InstallMutex());
  FaultPlan* plan = fault_internal::active_plan.load(std::memory_order_relaxed);
  if (plan == nullptr) return std::nullopt;
  std::string fd_path;
  if (fd >= 0 && path == nullptr && plan->wants_paths()) fd_path = PathOfFd(fd);
  bool direct = false;
  if ((kinds & FaultOpBit(FaultOp::kWrite)) != 0 && fd >= 0) {
    const int flags = fcntl(fd, F_GETFL);
    direct = flags >= 0 && (flags & O_DIRECT) != 0;
  }
  return plan->Decide(kinds, path != nullptr ? std::string(path) : fd_path,
                      path2 != nullptr ? std::string(path2) : std::string(), length, direct);
}

}  // namespace sift_stream::io
