// testing/list_query.h — the `filter`, `page_size` and `page_token` of Sift's List* calls, as
// the fake Sift server understands them.
//
// Filters: Sift takes CEL; its clients send one equality, `client_key == "x"`. The fake server
// accepts exactly that form (either quote, \\ \" \' escapes, any spacing) on the fields each
// list names, plus the empty filter, and refuses anything else with INVALID_ARGUMENT naming
// the filter and the supported fields: silently matching too much would hide a client bug.
//
// Paging: a page token is the decimal offset of the page's first entry in the filtered list.
// Lists only grow at the end (nothing is ever deleted), so a token stays valid while entries
// are added; the last page carries an empty token.
//
// Example:
//
//   absl::StatusOr<EqualityFilter> filter = ParseEqualityFilter(request.filter(), {"name"});
//   if (!filter.ok()) return filter.status();
//   absl::StatusOr<std::string> next = CollectPage(
//       items, request.page_size(), request.page_token(),
//       [&](const Item& item) { return filter->Matches(item.name()); },
//       [&](const Item& item) { response.add(item); });

#ifndef SIFT_STREAM_TESTING_LIST_QUERY_H_
#define SIFT_STREAM_TESTING_LIST_QUERY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sift_stream::testing {

// A page_size of 0 means kDefaultPageSize; larger sizes are capped at kMaxPageSize.
inline constexpr uint32_t kDefaultPageSize = 100;
inline constexpr uint32_t kMaxPageSize = 1000;

struct EqualityFilter {
  std::string field;  // Empty: the empty filter, which matches everything.
  std::string value;

  // Whether an entry whose `field` holds `actual` passes.
  bool Matches(absl::string_view actual) const { return field.empty() || actual == value; }
};

// `filter` parsed, if it is empty or `f == "v"` with f one of `fields`.
absl::StatusOr<EqualityFilter> ParseEqualityFilter(
    absl::string_view filter, std::initializer_list<absl::string_view> fields);

// The offset a page token stands for; INVALID_ARGUMENT for a token this server never issues.
absl::StatusOr<size_t> ParsePageToken(absl::string_view token);

// Calls `append(entry)` for one page of the entries of `items` (a range of pointers, smart or
// not) for which `match(entry)` holds; returns the next page's token, empty after the last.
template <typename Items, typename Match, typename Append>
absl::StatusOr<std::string> CollectPage(const Items& items, uint32_t page_size,
                                        absl::string_view page_token, const Match& match,
                                        const Append& append) {
  absl::StatusOr<size_t> offset = ParsePageToken(page_token);
  if (!offset.ok()) return offset.status();
  const size_t limit = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  size_t matched = 0;
  size_t taken = 0;
  for (const auto& item : items) {
    if (!match(*item)) continue;
    if (matched++ < *offset) continue;
    if (taken == limit) return absl::StrCat(*offset + limit);
    append(*item);
    ++taken;
  }
  return std::string();
}

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_LIST_QUERY_H_
