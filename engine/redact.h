// engine/redact.h — keeps API keys out of every error, log line and page.
//
// Servers and libraries sometimes echo what they were sent (a refused key in an error text);
// everything the engine reports passes through here first.

#ifndef SIFT_STREAM_ENGINE_REDACT_H_
#define SIFT_STREAM_ENGINE_REDACT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sift_stream::engine {

// `text` with every occurrence of `api_key` replaced by "[api key]". Keys shorter than 8
// characters (test keys) are replaced only where they stand alone, not inside longer words.
std::string RedactApiKey(absl::string_view text, absl::string_view api_key);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_REDACT_H_
