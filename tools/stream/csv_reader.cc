#include "tools/stream/csv_reader.h"

#include "absl/strings/str_cat.h"

namespace sift_stream::tools {

absl::StatusOr<CsvParse> ParseCsvRecord(absl::string_view text, std::vector<std::string>* cells) {
  cells->clear();
  std::string cell;
  bool quoted = false;        // Inside a quoted cell.
  bool after_quote = false;   // Just after a quoted cell's closing quote.
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') {
        cell.push_back(c);
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        cell.push_back('"');  // "" is one quote inside a quoted cell.
        ++i;
      } else {
        quoted = false;
        after_quote = true;
      }
    } else if (c == ',') {
      cells->push_back(std::move(cell));
      cell.clear();
      after_quote = false;
    } else if (after_quote) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", std::string(1, c), "' after a closing quote (expected a comma)"));
    } else if (c == '"' && cell.empty()) {
      quoted = true;
    } else {
      cell.push_back(c);  // A quote inside an unquoted cell is kept as written.
    }
  }
  if (quoted) return CsvParse::kOpenQuote;
  cells->push_back(std::move(cell));
  return CsvParse::kComplete;
}

bool CsvReader::ReadLine(std::string* line) {
  if (!std::getline(in_, *line)) return false;
  ++line_;
  bytes_read_ += line->size() + (in_.eof() ? 0 : 1);
  if (!line->empty() && line->back() == '\r') line->pop_back();
  if (line_ == 1 && absl::string_view(*line).substr(0, 3) == "\xEF\xBB\xBF") line->erase(0, 3);
  return true;
}

absl::StatusOr<bool> CsvReader::Next(CsvRecord* record) {
  std::string text;
  do {
    if (!ReadLine(&text)) return false;
  } while (text.empty());
  record->line = line_;
  for (;;) {
    absl::StatusOr<CsvParse> parsed = ParseCsvRecord(text, &record->cells);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", record->line, ": ", parsed.status().message()));
    }
    if (*parsed == CsvParse::kComplete) return true;
    std::string more;
    if (!ReadLine(&more)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", record->line, ": a quoted cell is never closed (the file ends inside it)"));
    }
    absl::StrAppend(&text, "\n", more);  // The line break belongs to the cell.
  }
}

}  // namespace sift_stream::tools
