// tools/progress_text.h — the pieces of a progress line that the tools share: a bar, an ETA
// and numbers grouped in thousands, so that `stream` and `pbfs reingest` look alike.
//
// Pure functions, so tests pin the exact text a person sees.

#ifndef SIFT_STREAM_TOOLS_PROGRESS_TEXT_H_
#define SIFT_STREAM_TOOLS_PROGRESS_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace sift_stream::tools {

// "12,345,678".
std::string Thousands(uint64_t n);

// "[#####...............]" for `done` = 0.25 and `width` = 20; `done` is clamped to [0, 1].
std::string ProgressBar(double done, int width);

// "0:07" or "1:02:03": the time left if the rest goes as fast as `elapsed` took for `done`.
// Empty while nothing is done or no time has passed, since any estimate would be invented.
std::string EtaClock(absl::Duration elapsed, double done);

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_PROGRESS_TEXT_H_
