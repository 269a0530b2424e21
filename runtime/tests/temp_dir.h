//===- temp_dir.h - a fresh directory per test ------------------*- C++ -*-===//

#ifndef PALMRT_TESTS_TEMP_DIR_H
#define PALMRT_TESTS_TEMP_DIR_H

#include "base/file_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace palmrt {

/// A fixture owning an empty directory under /tmp, removed after the test.
class TempDir : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/palmrt-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir = pattern;
  }
  void TearDown() override {
    std::string command = "rm -rf '" + dir + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
  }
  std::string path(const std::string &name) const {
    return joinPath(dir, name);
  }
  std::string dir;
};

} // namespace palmrt

#endif // PALMRT_TESTS_TEMP_DIR_H
