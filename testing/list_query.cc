#include "testing/list_query.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace sift_stream::testing {
namespace {

absl::Status UnsupportedFilter(absl::string_view filter,
                               std::initializer_list<absl::string_view> fields) {
  return absl::InvalidArgumentError(absl::StrCat(
      "fake Sift: unsupported filter '", filter, "'; supported: an empty filter or exactly ",
      "one `field == \"value\"` with field one of: ", absl::StrJoin(fields, ", ")));
}

// Reads a quoted CEL string literal at the front of `text` (either quote; \\, \" and \'
// escapes) into `value`, and advances `text` past it.
bool ConsumeQuoted(absl::string_view& text, std::string& value) {
  if (text.empty() || (text[0] != '"' && text[0] != '\'')) return false;
  const char quote = text[0];
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] == quote) {
      text.remove_prefix(i + 1);
      return true;
    }
    if (text[i] == '\\') {
      if (++i == text.size()) return false;
      if (text[i] != '\\' && text[i] != '"' && text[i] != '\'') return false;
    }
    value.push_back(text[i]);
  }
  return false;  // Unterminated.
}

}  // namespace

absl::StatusOr<EqualityFilter> ParseEqualityFilter(
    absl::string_view filter, std::initializer_list<absl::string_view> fields) {
  EqualityFilter parsed;
  absl::string_view text = absl::StripAsciiWhitespace(filter);
  if (text.empty()) return parsed;
  size_t name_end = 0;
  while (name_end < text.size() &&
         (absl::ascii_isalnum(text[name_end]) || text[name_end] == '_')) {
    ++name_end;
  }
  parsed.field = std::string(text.substr(0, name_end));
  text = absl::StripLeadingAsciiWhitespace(text.substr(name_end));
  const bool known = std::find(fields.begin(), fields.end(), parsed.field) != fields.end();
  if (!known || !absl::ConsumePrefix(&text, "==")) return UnsupportedFilter(filter, fields);
  text = absl::StripLeadingAsciiWhitespace(text);
  if (!ConsumeQuoted(text, parsed.value) || !text.empty()) {
    return UnsupportedFilter(filter, fields);
  }
  return parsed;
}

absl::StatusOr<size_t> ParsePageToken(absl::string_view token) {
  if (token.empty()) return 0;
  uint64_t offset;
  if (!absl::SimpleAtoi(token, &offset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fake Sift: page_token '", token, "' was not issued by this server"));
  }
  return static_cast<size_t>(offset);
}

}  // namespace sift_stream::testing
