#include "engine/redact.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace sift_stream::engine {
namespace {

bool KeyLike(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

}  // namespace

std::string RedactApiKey(absl::string_view text, absl::string_view api_key) {
  if (api_key.empty()) return std::string(text);
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = text.find(api_key, pos)) != absl::string_view::npos;) {
    const size_t end = hit + api_key.size();
    // A short test key such as "k" inside "checkpoint" is not the key showing.
    const bool alone = (hit == 0 || !KeyLike(text[hit - 1])) &&
                       (end == text.size() || !KeyLike(text[end]));
    absl::StrAppend(&out, text.substr(pos, hit - pos),
                    api_key.size() >= 8 || alone ? "[api key]" : api_key);
    pos = end;
  }
  absl::StrAppend(&out, text.substr(pos));
  return out;
}

}  // namespace sift_stream::engine
