#include "api/query.h"

#include <gtest/gtest.h>

namespace enospcd::api {
namespace {

constexpr uint64_t kSec = 1'000'000'000ULL;
// 2024-05-01T12:00:00Z
constexpr uint64_t kMay1 = 1714564800ULL * kSec;

TEST(ApiParseTime, Rfc3339Utc) {
  auto t = parse_time_ns("2024-05-01T12:00:00Z", 0);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, kMay1);
  EXPECT_EQ(*parse_time_ns("2024-05-01t12:00:00z", 0), kMay1);
  EXPECT_EQ(*parse_time_ns("2024-05-01 12:00:00Z", 0), kMay1);
}

TEST(ApiParseTime, Rfc3339OffsetsAndFractions) {
  EXPECT_EQ(*parse_time_ns("2024-05-01T14:00:00+02:00", 0), kMay1);
  EXPECT_EQ(*parse_time_ns("2024-05-01T07:30:00-04:30", 0), kMay1);
  EXPECT_EQ(*parse_time_ns("2024-05-01T12:00:00.25Z", 0), kMay1 + kSec / 4);
  EXPECT_EQ(*parse_time_ns("2024-05-01T12:00:00.123456789Z", 0), kMay1 + 123456789);
  // Digits beyond nanoseconds are accepted and ignored.
  EXPECT_EQ(*parse_time_ns("2024-05-01T12:00:00.1234567891Z", 0), kMay1 + 123456789);
}

TEST(ApiParseTime, Rfc3339LeapDayAndLeapSecond) {
  EXPECT_TRUE(parse_time_ns("2024-02-29T00:00:00Z", 0));
  EXPECT_FALSE(parse_time_ns("2023-02-29T00:00:00Z", 0));
  EXPECT_EQ(*parse_time_ns("2016-12-31T23:59:60Z", 0), *parse_time_ns("2016-12-31T23:59:59Z", 0));
}

TEST(ApiParseTime, Rfc3339Rejects) {
  for (const char* bad : {"2024-05-01T12:00:00", "2024-05-01", "2024-13-01T00:00:00Z", "2024-05-32T00:00:00Z",
                          "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:00.Z",
                          "2024-05-01T12:00:00+2:00", "2024-05-01T12:00:00+24:00", "2024-05-01T12:00:00Zjunk",
                          "1969-12-31T23:59:59Z", "2024-5-01T12:00:00Z"}) {
    auto t = parse_time_ns(bad, 0);
    EXPECT_FALSE(t) << bad;
  }
  auto no_zone = parse_time_ns("2024-05-01T12:00:00", 0);
  ASSERT_FALSE(no_zone);
  EXPECT_NE(no_zone.error().message.find("zone"), std::string::npos);
}

TEST(ApiParseTime, BeyondWhatNanosecondsHoldIsRefusedNotWrapped) {
  // 2^64 ns after 1970 is 2554-07-21T23:34:33.709551615Z.
  auto last = parse_time_ns("2554-07-21T23:34:33.709551615Z", 0);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(*last, 18446744073709551615ULL);
  for (const char* bad : {"2554-07-21T23:34:34Z", "2600-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    auto t = parse_time_ns(bad, 0);
    ASSERT_FALSE(t) << bad << " = " << *t;
    EXPECT_NE(t.error().message.find("out of range"), std::string::npos) << t.error().message;
  }
}

TEST(ApiParseTime, Relative) {
  const uint64_t now = kMay1;
  EXPECT_EQ(*parse_time_ns("5m", now), now - 300 * kSec);
  EXPECT_EQ(*parse_time_ns("1h30m", now), now - 5400 * kSec);
  EXPECT_EQ(*parse_time_ns("2d", now), now - 2ULL * 86400 * kSec);
  EXPECT_EQ(*parse_time_ns("250ms", now), now - kSec / 4);
  // Further back than the epoch clamps to it.
  EXPECT_EQ(*parse_time_ns("10000w", now), 0u);
}

TEST(ApiParseTime, UnixSeconds) {
  EXPECT_EQ(*parse_time_ns("1714564800", 0), kMay1);
  EXPECT_EQ(*parse_time_ns("1714564800.5", 0), kMay1 + kSec / 2);
  EXPECT_EQ(*parse_time_ns("0", 0), 0u);
  EXPECT_FALSE(parse_time_ns("1714564800.", 0));
  EXPECT_FALSE(parse_time_ns("99999999999999999999", 0));
  EXPECT_FALSE(parse_time_ns("18446744073709551615", 0));  // seconds, so out of range in ns
}

TEST(ApiParseTime, Garbage) {
  for (const char* bad : {"", "now", "-5m", "5", "5x", "m5", "1.5h", " 5m", "5m ", "5 m", "0x10", "+5m"}) {
    if (std::string_view(bad) == "5") continue;  // "5" is unix second 5
    auto t = parse_time_ns(bad, kMay1);
    EXPECT_FALSE(t) << "'" << bad << "'";
  }
  auto e = parse_time_ns("yesterday", kMay1);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("RFC 3339"), std::string::npos);
  EXPECT_NE(e.error().message.find("'yesterday'"), std::string::npos);
}

TEST(ApiParseDuration, UnitsAndOverflow) {
  EXPECT_EQ(*parse_duration_ns("90s"), 90 * kSec);
  EXPECT_EQ(*parse_duration_ns("1w"), 7ULL * 86400 * kSec);
  EXPECT_EQ(*parse_duration_ns("1m1s"), 61 * kSec);
  EXPECT_EQ(*parse_duration_ns("1s1m"), 61 * kSec);
  EXPECT_FALSE(parse_duration_ns(""));
  EXPECT_FALSE(parse_duration_ns("10"));
  EXPECT_FALSE(parse_duration_ns("s"));
  EXPECT_FALSE(parse_duration_ns("10y"));
  EXPECT_FALSE(parse_duration_ns("99999999999999999999s"));
  EXPECT_FALSE(parse_duration_ns("30000000000w"));
}

TEST(ApiParseUint, Bounds) {
  EXPECT_EQ(*parse_uint("1", 1, 10), 1u);
  EXPECT_EQ(*parse_uint("10", 1, 10), 10u);
  EXPECT_FALSE(parse_uint("0", 1, 10));
  EXPECT_FALSE(parse_uint("11", 1, 10));
  EXPECT_FALSE(parse_uint("", 0, 10));
  EXPECT_FALSE(parse_uint("-1", 0, 10));
  EXPECT_FALSE(parse_uint("+1", 0, 10));
  EXPECT_FALSE(parse_uint("1 ", 0, 10));
  EXPECT_EQ(*parse_uint("18446744073709551615", 0, UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(parse_uint("18446744073709551616", 0, UINT64_MAX));
  EXPECT_NE(parse_uint("x", 1, 10000).error().message.find("from 1 to 10000"), std::string::npos);
}

TEST(ApiParseFlag, Spellings) {
  for (const char* yes : {"", "1", "true", "yes"}) EXPECT_TRUE(*parse_flag(yes)) << yes;
  for (const char* no : {"0", "false", "no"}) EXPECT_FALSE(*parse_flag(no)) << no;
  EXPECT_FALSE(parse_flag("maybe"));
}

TEST(ApiFormatRfc3339, RoundTrips) {
  EXPECT_EQ(format_rfc3339(kMay1, 0), "2024-05-01T12:00:00Z");
  EXPECT_EQ(format_rfc3339(kMay1 + 5'000'000, 3), "2024-05-01T12:00:00.005Z");
  EXPECT_EQ(format_rfc3339(kMay1 + 123456789, 9), "2024-05-01T12:00:00.123456789Z");
  EXPECT_EQ(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
  for (uint64_t ns : {uint64_t{0}, kMay1, kMay1 + 1, uint64_t{4102444800ULL * kSec + 999999999}}) {
    EXPECT_EQ(*parse_time_ns(format_rfc3339(ns, 9), 0), ns);
  }
}

TEST(ApiQuoteForMessage, EscapesAndTruncates) {
  EXPECT_EQ(quote_for_message("abc"), "'abc'");
  EXPECT_EQ(quote_for_message("a\nb"), "'a\\x0ab'");
  EXPECT_EQ(quote_for_message("it's"), "'it\\x27s'");
  EXPECT_EQ(quote_for_message("\xff"), "'\\xff'");
  EXPECT_EQ(quote_for_message(std::string(100, 'x'), 4), "'xxxx'...");
}

}  // namespace
}  // namespace enospcd::api
