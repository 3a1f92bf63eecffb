// tools/pbfs_reingest.h — the `pbfs reingest` subcommand: progress and summary around
// engine::ReingestFiles().
//
// The engine does the work (engine/file_reingester.h); this file decides what a person sees.
// On a terminal, progress is a bar with an ETA, redrawn in place ("\r"); in a log or a
// pipe it is a plain line now and then, because a file full of carriage returns is
// unreadable. The summary at the end names every file that was not re-ingested whole and why — what was
// skipped in a damaged file, the error of a failed one — since those files are kept and
// someone has to decide what to do with them.
//
// Exit status: 0 only if every file was re-ingested whole; 1 otherwise (damaged, unreadable
// or failed files, or nothing could be attempted).

#ifndef SIFT_STREAM_TOOLS_PBFS_REINGEST_H_
#define SIFT_STREAM_TOOLS_PBFS_REINGEST_H_

#include <cstdio>
#include <string>
#include <vector>

#include "engine/file_reingester.h"

namespace sift_stream::tools {

enum class ProgressStyle {
  kTerminal,  // A bar with ETA, one line redrawn in place ten times a second.
  kLines,     // A line about every second, and a last one.
  kNone,
};

// One progress line, without "\r" or "\n", e.g.
// "2/5 files, 12000 messages sent (48000 msgs/s), 7000 acknowledged, 37% of 12.3 MB: b.pbfs".
std::string FormatProgress(const engine::FileReingestProgress& progress);

// The line redrawn on a terminal, e.g. "[######..................] 25%  ETA 0:06  2/5 files
// 1,000 msgs (500/s)  600 acked  c.pbfs", cut to `columns` - 1 characters when `columns` > 1
// (a wrapped line cannot be redrawn in place).
std::string FormatProgressBar(const engine::FileReingestProgress& progress, int columns);

// The summary printed at the end, several lines, each ending in "\n". Its last line starts
// with "summary: " and counts the outcomes.
std::string FormatSummary(const engine::FileReingestReport& report, const std::string& uri);

// Runs the subcommand: progress on `err`, summary on `out`; returns the exit status.
// `options.on_progress` is replaced.
int RunReingest(const std::vector<std::string>& files, engine::FileReingestOptions options,
                ProgressStyle style, std::FILE* out, std::FILE* err);

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_PBFS_REINGEST_H_
