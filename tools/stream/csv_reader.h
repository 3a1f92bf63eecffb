// tools/stream/csv_reader.h — reads CSV records (RFC 4180) with the line each one starts on.
//
// Why not split on commas: real exports quote cells that hold commas, quotes ("" inside a
// quoted cell) and even newlines, and a replay tool must report a bad row by the line a user
// sees in an editor — so a record spanning lines keeps the number of its first line. CRLF and
// LF both end lines; a UTF-8 byte-order mark before the header is dropped; blank lines are
// skipped (a trailing newline at the end of an export is not a row).

#ifndef SIFT_STREAM_TOOLS_STREAM_CSV_READER_H_
#define SIFT_STREAM_TOOLS_STREAM_CSV_READER_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::tools {

struct CsvRecord {
  int64_t line = 0;  // 1-based line the record starts on.
  std::vector<std::string> cells;
};

// How one record's text parsed: complete, or still inside a quoted cell at its end (the caller
// appends the next line and tries again).
enum class CsvParse { kComplete, kOpenQuote };

// Splits `text` (one record, without its final line break) into `cells`. InvalidArgument for a
// character other than a comma right after a closing quote.
absl::StatusOr<CsvParse> ParseCsvRecord(absl::string_view text, std::vector<std::string>* cells);

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // The next record into `record`; false at the end of the input. Errors name the line.
  absl::StatusOr<bool> Next(CsvRecord* record);

  // Bytes consumed so far (for progress against a file's size).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool ReadLine(std::string* line);

  std::istream& in_;
  int64_t line_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_STREAM_CSV_READER_H_
