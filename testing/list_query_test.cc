#include "testing/list_query.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// --- Filters -----------------------------------------------------------------------------------

TEST(EqualityFilterTest, EmptyOrBlankFilterMatchesEverything) {
  for (const char* blank : {"", "   ", "\t\n"}) {
    absl::StatusOr<EqualityFilter> filter = ParseEqualityFilter(blank, {"name"});
    ASSERT_TRUE(filter.ok()) << filter.status();
    EXPECT_TRUE(filter->Matches("anything"));
  }
}

TEST(EqualityFilterTest, EqualityParsesWithEitherQuoteAndAnySpacing) {
  for (const char* text : {"name == \"imu\"", "name=='imu'", "  name ==  'imu'  "}) {
    absl::StatusOr<EqualityFilter> filter = ParseEqualityFilter(text, {"client_key", "name"});
    ASSERT_TRUE(filter.ok()) << text << ": " << filter.status();
    EXPECT_EQ(filter->field, "name");
    EXPECT_EQ(filter->value, "imu");
    EXPECT_TRUE(filter->Matches("imu"));
    EXPECT_FALSE(filter->Matches("gps"));
  }
}

TEST(EqualityFilterTest, EscapedQuotesAndBackslashesAreUnescaped) {
  absl::StatusOr<EqualityFilter> filter =
      ParseEqualityFilter(R"(name == "say \"hi\" \\ it's")", {"name"});
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(filter->value, R"(say "hi" \ it's)");
  filter = ParseEqualityFilter(R"(name == 'it\'s')", {"name"});
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_EQ(filter->value, "it's");
}

TEST(EqualityFilterTest, AnyOtherFilterIsInvalidArgumentNamingItAndTheSupportedFields) {
  for (const char* text :
       {"asset_id == \"x\"", "name = \"x\"", "name == x", "name == \"x", "name != \"x\"",
        "name == \"x\" && client_key == \"y\"", "name == \"x\" || true", "name == \"a\\nb\"",
        "== \"x\"", "name", "(name == \"x\")"}) {
    absl::StatusOr<EqualityFilter> filter = ParseEqualityFilter(text, {"client_key", "name"});
    EXPECT_EQ(filter.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(filter.status().message(), HasSubstr(text));
    EXPECT_THAT(filter.status().message(), HasSubstr("client_key, name"));
  }
}

// --- Paging ------------------------------------------------------------------------------------

class CollectPageTest : public ::testing::Test {
 protected:
  void Fill(int count) {
    for (int i = 0; i < count; ++i) items_.push_back(std::make_unique<int>(i));
  }

  // One page of the items for which `match` holds, and the next token.
  template <typename Match>
  absl::StatusOr<std::string> Page(uint32_t page_size, const std::string& token, Match match,
                                   std::vector<int>* page) {
    return CollectPage(items_, page_size, token, match, [&](int i) { page->push_back(i); });
  }

  static bool All(int) { return true; }

  std::vector<std::unique_ptr<int>> items_;
};

TEST_F(CollectPageTest, PagesVisitEveryMatchOnceAndTheLastHasNoToken) {
  Fill(15);
  auto even = [](int i) { return i % 2 == 0; };
  std::vector<std::vector<int>> pages;
  std::string token;
  do {
    std::vector<int> page;
    absl::StatusOr<std::string> next = Page(3, token, even, &page);
    ASSERT_TRUE(next.ok()) << next.status();
    pages.push_back(page);
    token = *next;
  } while (!token.empty() && pages.size() < 10);
  EXPECT_THAT(pages, ElementsAre(ElementsAre(0, 2, 4), ElementsAre(6, 8, 10),
                                 ElementsAre(12, 14)));
}

TEST_F(CollectPageTest, ExactlyFullLastPageHasNoToken) {
  Fill(4);
  std::vector<int> page;
  absl::StatusOr<std::string> next = Page(2, "2", All, &page);
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(page, ElementsAre(2, 3));
  EXPECT_EQ(*next, "");
}

TEST_F(CollectPageTest, TokenPastTheEndGivesAnEmptyLastPage) {
  Fill(4);
  std::vector<int> page;
  absl::StatusOr<std::string> next = Page(2, "40", All, &page);
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(page, ElementsAre());
  EXPECT_EQ(*next, "");
}

TEST_F(CollectPageTest, PageSizeZeroMeansTheDefaultAndHugeSizesAreCapped) {
  Fill(kMaxPageSize + 5);
  std::vector<int> page;
  absl::StatusOr<std::string> next = Page(0, "", All, &page);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(page.size(), kDefaultPageSize);
  EXPECT_EQ(*next, std::to_string(kDefaultPageSize));
  page.clear();
  next = Page(1u << 30, "", All, &page);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(page.size(), kMaxPageSize);
  EXPECT_EQ(*next, std::to_string(kMaxPageSize));
}

TEST_F(CollectPageTest, PageTokenNotIssuedByTheServerIsInvalidArgument) {
  Fill(4);
  for (const char* token : {"not-a-token", "-1", "1.5"}) {
    std::vector<int> page;
    absl::StatusOr<std::string> next = Page(2, token, All, &page);
    EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(page, ElementsAre());
  }
}

}  // namespace
}  // namespace sift_stream::testing
