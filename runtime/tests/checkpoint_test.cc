//===- checkpoint_test.cc - checkpoint store, spikes, fault specs ---------===//

#include "base/faults.h"
#include "exe/checkpoint.h"
#include "io/program_info.h"
#include "program_json.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

namespace palmrt {
namespace {

TEST(SpikeDetector, NonFiniteAlwaysAndFactorOnceTheWindowIsFull) {
  SpikeDetector d(/*factor=*/2.0, /*window=*/3);
  EXPECT_NE(d.check(std::nan(""), std::nullopt), "");
  EXPECT_NE(d.check(1.0, std::numeric_limits<double>::infinity()), "");
  // Until three losses are known only NaN and Inf count.
  EXPECT_EQ(d.check(100.0, 1.0), "");
  d.record(1.0);
  d.record(5.0);
  EXPECT_EQ(d.check(100.0, 1.0), "");
  d.record(2.0);
  // Median of {1, 5, 2} is 2: 4 is not above 2 x 2, 4.01 is.
  EXPECT_EQ(d.check(4.0, 1.0), "");
  EXPECT_NE(d.check(4.01, std::nullopt).find("median"), std::string::npos);
  // The window slides: {5, 2, 10}, median 5.
  d.record(10.0);
  EXPECT_EQ(d.recent.size(), 3u);
  EXPECT_EQ(d.check(10.0, 1.0), "");
  EXPECT_NE(d.check(10.5, 1.0), "");
  // An even window takes the mean of the middle two.
  SpikeDetector e(2.0, 2);
  e.record(1.0);
  e.record(3.0);
  EXPECT_EQ(e.check(4.0, 1.0), "");
  EXPECT_NE(e.check(4.5, 1.0), "");
}

TEST(Faults, SpecsParseOrNameTheBadPart) {
  EXPECT_TRUE(checkFaultSpecText("").ok());
  EXPECT_TRUE(checkFaultSpecText("kill@save-index:3").ok());
  EXPECT_TRUE(checkFaultSpecText("kill@step:2,rank=1;poison@batch:4").ok());
  EXPECT_TRUE(checkFaultSpecText("enospc@save-shard").ok());
  for (const char *bad : {"explode@step:1", "kill", "kill@", "kill@step:x",
                          "kill@step:1,rank=a", "kill@step:1,r=1"}) {
    absl::Status s = checkFaultSpecText(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find(std::string("'") + bad), std::string::npos)
        << s;
  }
}

/// One process; a parameter and its optimizer state.
std::string stateProgram() {
  return programJson(
      {{"data", 1}}, {}, "cpu",
      R"([{"index": 0, "kind": "param", "name": "w", "dtype": "f32",
           "global_shape": [4], "local_shape": [4], "sharding": [["data"]],
           "init": {"kind": "normal", "stddev": 1}},
          {"index": 1, "kind": "state", "name": "w.m", "dtype": "f32",
           "global_shape": [4], "local_shape": [4], "sharding": [["data"]],
           "init": {"kind": "zeros", "stddev": 0}}])");
}

using Checkpoints = TempDir;

TEST_F(Checkpoints, SaveKeepLoadAndDetectDamage) {
  absl::StatusOr<ProgramInfo> info = parseProgramInfo(stateProgram());
  ASSERT_TRUE(info.ok()) << info.status();
  std::vector<const TensorSpec *> tensors = {&info->args[0], &info->args[1]};
  CheckpointStore store(path("ck"), /*keep=*/2);
  ASSERT_TRUE(store.open(0).ok());
  EXPECT_EQ(store.latest(), std::nullopt);
  std::vector<float> w(4), m(4);
  for (int64_t step = 1; step <= 3; ++step) {
    for (int i = 0; i < 4; ++i) {
      w[i] = static_cast<float>(step * 10 + i);
      m[i] = -w[i];
    }
    RunState state;
    state.step = step;
    state.seed = 7;
    state.skipBatches = {{2, 3}};
    state.recentLosses = {1.5, 0.1};
    ASSERT_TRUE(store.save(*info, 0, tensors, {w.data(), m.data()}, state)
                    .ok());
  }
  EXPECT_EQ(store.latest(), std::optional<int64_t>(3));
  // --keep 2: step 1 is gone.
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{3, 2}));
  EXPECT_FALSE(pathExists(path("ck/step-00000001")));

  std::vector<float> w2(4), m2(4);
  absl::StatusOr<RunState> state =
      store.load(2, *info, 0, tensors, {w2.data(), m2.data()});
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->step, 2);
  EXPECT_EQ(state->seed, 7u);
  EXPECT_EQ(state->skipBatches,
            (std::vector<std::pair<int64_t, int64_t>>{{2, 3}}));
  EXPECT_EQ(state->recentLosses, (std::vector<double>{1.5, 0.1}));
  EXPECT_EQ(w2, (std::vector<float>{20, 21, 22, 23}));
  EXPECT_EQ(m2, (std::vector<float>{-20, -21, -22, -23}));

  // One flipped bit: the checksum names the file.
  std::string file = path("ck/step-00000003/checkpoint-rank00000.safetensors");
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    char c;
    f.get(c);
    f.seekp(-3, std::ios::end);
    f.put(static_cast<char>(c ^ 1));
  }
  state = store.load(3, *info, 0, tensors, {w2.data(), m2.data()});
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.status().message().find("crc32"), std::string::npos)
      << state.status();

  // A save of an earlier step (a resumed run's future) removes the later
  // ones and becomes the latest.
  RunState again;
  again.step = 1;
  ASSERT_TRUE(store.save(*info, 0, tensors, {w.data(), m.data()}, again).ok());
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1}));
}

TEST_F(Checkpoints, AnUnwritableDirectoryIsAnError) {
  std::ofstream(path("file")) << "x";
  CheckpointStore store(path("file/ck"), 1);
  absl::Status s = store.open(0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--checkpoint-dir"), std::string::npos) << s;
}

} // namespace
} // namespace palmrt
