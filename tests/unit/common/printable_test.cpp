#include "common/printable.h"

#include <gtest/gtest.h>

namespace enospcd {
namespace {

TEST(Printable, TerminalControlSequencesBecomeVisible) {
  // The file name of a title-setting, screen-clearing, colouring attack.
  EXPECT_EQ(printable("\x1b]0;PWNED\a\x1b[2J\x1b[31mRED"), "\\e]0;PWNED\\x07\\e[2J\\e[31mRED");
  EXPECT_EQ(printable("evil\ncomm"), "evil\\ncomm");
  EXPECT_EQ(printable("a\tb\rc"), "a\\tb\\rc");
  EXPECT_EQ(printable(std::string_view("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("del\x7f"), "del\\x7f");
}

TEST(Printable, ValidUtf8PassesInvalidBytesAreEscaped) {
  EXPECT_EQ(printable("/tmp/\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x92\xbe"), "/tmp/\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x92\xbe");
  EXPECT_EQ(printable("bad\xff\xfe"), "bad\\xff\\xfe");
  EXPECT_EQ(printable("cut\xc3"), "cut\\xc3");                // truncated sequence
  EXPECT_EQ(printable("over\xc0\xaf"), "over\\xc0\\xaf");     // overlong '/'
  EXPECT_EQ(printable("sur\xed\xa0\x80"), "sur\\xed\\xa0\\x80");  // UTF-16 surrogate
  EXPECT_EQ(printable("csi\xc2\x9b" "2J"), "csi\\u009b2J");    // C1 CSI
  EXPECT_EQ(printable("rtl\xe2\x80\xaetxt"), "rtl\\u202etxt");  // right-to-left override
}

TEST(Printable, IdempotentAndPlainTextUnchanged) {
  const std::string plain = "/var/lib/containers/storage C:\\path 100%";
  EXPECT_EQ(printable(plain), plain);
  const std::string once = printable("\x1b[31m\n\xff");
  EXPECT_EQ(printable(once), once);
}

TEST(Printable, LinesKeepNewlinesOnly) {
  EXPECT_EQ(printable_lines("row 1\nrow\x1b[2J 2\n"), "row 1\nrow\\e[2J 2\n");
  EXPECT_EQ(printable_lines("a\rb"), "a\\rb");
}

}  // namespace
}  // namespace enospcd
