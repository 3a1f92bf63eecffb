// CsvReader and ParseCsvRecord: quoting, line numbers of multi-line records, line endings.
#include "tools/stream/csv_reader.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

using ::testing::ElementsAre;

std::vector<CsvRecord> ReadAll(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<CsvRecord> records;
  CsvRecord record;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&record);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    records.push_back(record);
  }
  return records;
}

TEST(CsvReader, CommaInsideQuotesDoesNotSplitTheCell) {
  std::vector<std::string> cells;
  ASSERT_EQ(*ParseCsvRecord(R"(a,"b,c",d)", &cells), CsvParse::kComplete);
  EXPECT_THAT(cells, ElementsAre("a", "b,c", "d"));
}

TEST(CsvReader, DoubledQuoteIsOneQuote) {
  std::vector<std::string> cells;
  ASSERT_EQ(*ParseCsvRecord(R"("say ""hi""",x)", &cells), CsvParse::kComplete);
  EXPECT_THAT(cells, ElementsAre(R"(say "hi")", "x"));
}

TEST(CsvReader, EmptyCellsAreKeptNotDropped) {
  std::vector<std::string> cells;
  ASSERT_EQ(*ParseCsvRecord(",a,,", &cells), CsvParse::kComplete);
  EXPECT_THAT(cells, ElementsAre("", "a", "", ""));
}

TEST(CsvReader, TextAfterClosingQuoteIsAnError) {
  std::vector<std::string> cells;
  EXPECT_FALSE(ParseCsvRecord(R"("a"b,c)", &cells).ok());
}

TEST(CsvReader, RecordSpanningLinesKeepsItsFirstLineNumber) {
  std::vector<CsvRecord> records = ReadAll("h1,h2\n1,\"two\nlines\"\n3,4\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].line, 2);
  EXPECT_THAT(records[1].cells, ElementsAre("1", "two\nlines"));
  EXPECT_EQ(records[2].line, 4);  // Not 3: the line numbers match an editor's.
}

TEST(CsvReader, CrlfBomAndBlankLinesDoNotLeakIntoCells) {
  std::vector<CsvRecord> records = ReadAll("\xEF\xBB\xBFtime,x\r\n\r\n1,2\r\n\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(records[0].cells, ElementsAre("time", "x"));
  EXPECT_THAT(records[1].cells, ElementsAre("1", "2"));
  EXPECT_EQ(records[1].line, 3);
}

TEST(CsvReader, LastLineWithoutNewlineIsRead) {
  std::vector<CsvRecord> records = ReadAll("a\n1");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(records[1].cells, ElementsAre("1"));
}

TEST(CsvReader, UnclosedQuoteAtEndOfFileNamesItsLine) {
  std::istringstream in("a,b\n1,\"never closed\n");
  CsvReader reader(in);
  CsvRecord record;
  ASSERT_TRUE(*reader.Next(&record));
  absl::StatusOr<bool> bad = reader.Next(&record);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("line 2"));
}

TEST(CsvReader, BytesReadReachesTheInputSizeForProgress) {
  const std::string text = "a,b\r\n1,2\n3,4";
  std::istringstream in(text);
  CsvReader reader(in);
  CsvRecord record;
  while (*reader.Next(&record)) {
  }
  EXPECT_EQ(reader.bytes_read(), text.size());
}

}  // namespace
}  // namespace sift_stream::tools
