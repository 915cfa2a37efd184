// ASSERT_HAS_VALUE(opt): a fatal assertion that an std::optional (or a Result) holds a value.
//
// Unlike ASSERT_TRUE(opt), the test returns through a plain `if` on the optional itself, so clang-tidy's
// bugprone-unchecked-optional-access sees that the accesses after it are checked. Extra context can be
// streamed as with any assertion: ASSERT_HAS_VALUE(r.options) << r.message;
#pragma once

#include <gtest/gtest.h>

// The switch keeps an `else` written after the macro from binding to the macro's `if` (as in GoogleTest's own
// assertions).
#define ASSERT_HAS_VALUE(opt) \
  switch (0)                  \
  case 0:                     \
  default:                    \
    if (opt) {                \
    } else                    \
      FAIL() << #opt " holds no value "
