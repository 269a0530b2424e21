//===- options_test.cc - the executables' flags ---------------------------===//

#include "exe/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace palmrt {
namespace {

absl::StatusOr<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  return parseFlags(static_cast<int>(argv.size()), argv.data());
}

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

TEST(SkipBatches, RangesAreSortedAndMerged) {
  absl::StatusOr<Options> o = parse({"--skip-batches", "9-12,3-4,5,20-20"});
  ASSERT_TRUE(o.ok()) << o.status();
  // 3-4 and 5 touch: one range.
  EXPECT_EQ(o->skipBatches, (Ranges{{3, 5}, {9, 12}, {20, 20}}));
  o = parse({"--skip-batches=4-8,6-10"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->skipBatches, (Ranges{{4, 10}}));
}

TEST(SkipBatches, StepReadsTheKthBatchNotSkipped) {
  Ranges skipped = {{3, 4}, {6, 6}};
  // Batches not skipped: 1 2 5 7 8 ...
  std::vector<int64_t> want = {1, 2, 5, 7, 8};
  for (int64_t step = 1; step <= 5; ++step)
    EXPECT_EQ(batchOfStep(step, skipped), want[step - 1]) << "step " << step;
  EXPECT_EQ(batchOfStep(7, {}), 7);
  EXPECT_EQ(batchOfStep(1, {{1, 100}}), 101);
}

TEST(SkipBatches, BadRangesAreNamed) {
  for (const char *bad : {"3-2", "0-4", "x", "2-", "-3", "1-2,,5", ""}) {
    absl::StatusOr<Options> o = parse({"--skip-batches", bad});
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_NE(std::string(o.status().message()).find("--skip-batches"),
              std::string::npos)
        << o.status();
  }
  absl::StatusOr<Options> o =
      parse({"--skip-batches", "2-3", "--inputs", "dir"});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(std::string(o.status().message()).find("--inputs"),
            std::string::npos);
}

} // namespace
} // namespace palmrt
