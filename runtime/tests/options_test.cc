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

TEST(CheckpointFlags, Parse) {
  absl::StatusOr<Options> o =
      parse({"--checkpoint-dir", "ck", "--checkpoint-every", "5", "--keep=2",
             "--resume=10", "--async-save", "--spike-factor", "3",
             "--spike-window", "4", "--spike-skip", "2", "--seed", "0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->checkpointDir, "ck");
  EXPECT_EQ(o->checkpointEvery, 5);
  EXPECT_EQ(o->keep, 2);
  EXPECT_TRUE(o->resume);
  EXPECT_EQ(o->resumeStep, 10);
  EXPECT_TRUE(o->asyncSave);
  EXPECT_EQ(o->spikeFactor, 3.0);
  EXPECT_EQ(o->spikeWindow, 4);
  EXPECT_EQ(o->spikeSkip, 2);
  EXPECT_TRUE(o->seedGiven);
  o = parse({"--checkpoint-dir", "ck", "--resume"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->resumeStep, -1);
  EXPECT_FALSE(o->seedGiven);
}

TEST(CheckpointFlags, ErrorsNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--resume"}, "--resume needs --checkpoint-dir"},
      {{"--checkpoint-every", "3"}, "--checkpoint-every needs --checkpoint-dir"},
      {{"--checkpoint-dir", "c", "--resume=0"}, "--resume=STEP wants"},
      {{"--checkpoint-dir", "c", "--keep", "0"}, "--keep wants a positive"},
      {{"--checkpoint-dir", "c", "--spike-factor", "1"},
       "--spike-factor wants a number above 1"},
      {{"--checkpoint-dir", "c", "--spike-skip", "3"},
       "--spike-skip needs --spike-factor"},
      {{"--spike-factor", "2"}, "--spike-factor needs --checkpoint-dir"},
      {{"--checkpoint-dir", "c", "--async-save=1"},
       "--async-save takes no value"},
      {{"--checkpoint-dir", "c", "--inputs", "o"}, "--inputs repeats"}};
  for (const auto &[args, message] : cases) {
    absl::StatusOr<Options> o = parse(args);
    ASSERT_FALSE(o.ok()) << message;
    EXPECT_NE(o.status().message().find(message), std::string::npos)
        << o.status();
  }
}

} // namespace
} // namespace palmrt
