#include <gtest/gtest.h>
TEST(Placeholder, http) { SUCCEED(); }
