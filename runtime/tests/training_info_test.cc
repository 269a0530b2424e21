//===- training_info_test.cc - state, step and aliases in descriptions ----===//

#include "exe/step_report.h"
#include "io/program_info.h"

#include "program_json.h"

#include <gtest/gtest.h>

namespace palmrt {
namespace {

/// An f32 tensor member list: `name`, [4] split over x=2 when `sharded`.
std::string tensor(int index, const std::string &name, const std::string &rest,
                   bool sharded = false, const std::string &dtype = "f32") {
  return absl::StrCat(R"({"index": )", index, R"(, "name": ")", name,
                      R"(", "dtype": ")", dtype, R"(", )",
                      sharded ? R"("global_shape": [4], "local_shape": [2],
                                   "sharding": [["x"]])"
                              : R"("global_shape": [4], "local_shape": [4],
                                   "sharding": [[]])",
                      rest, "}");
}

const char kZeros[] = R"(, "init": {"kind": "zeros", "stddev": 0})";

/// A training step's description: w (param), m (state), step, and results
/// loss, w_new, m_new with `aliasW` and `aliasM` as their "aliases".
std::string training(const std::string &aliasW = "0",
                     const std::string &aliasM = "1") {
  std::string args = absl::StrCat(
      "[", tensor(0, "w", R"(, "kind": "param",
                       "init": {"kind": "normal", "stddev": 1})"),
      ",", tensor(1, "m", absl::StrCat(R"(, "kind": "state")", kZeros)), ",",
      R"({"index": 2, "kind": "step", "name": "step", "dtype": "f32",
          "global_shape": [], "local_shape": [], "sharding": []}])");
  std::string results = absl::StrCat(
      R"([{"index": 0, "name": "loss", "dtype": "f32", "global_shape": [],
           "local_shape": [], "sharding": []},)",
      tensor(1, "w_new", aliasW.empty() ? "" : ", \"aliases\": " + aliasW), ",",
      tensor(2, "m_new", aliasM.empty() ? "" : ", \"aliases\": " + aliasM),
      "]");
  return programJson({{"x", 2}}, {}, "cpu", args, results);
}

TEST(TrainingInfo, ParsesStateStepAndAliases) {
  auto info = parseProgramInfo(training("0"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->args[0].kind, TensorKind::Param);
  EXPECT_EQ(info->args[1].kind, TensorKind::State);
  EXPECT_EQ(info->args[1].init, InitKind::Zeros);
  EXPECT_EQ(info->args[2].kind, TensorKind::Step);
  EXPECT_EQ(info->results[0].aliases, -1);
  EXPECT_EQ(info->results[1].aliases, 0);
  EXPECT_EQ(info->results[2].aliases, 1);
  ASSERT_EQ(info->argsOfKind(TensorKind::State).size(), 1u);
  EXPECT_EQ(info->argsOfKind(TensorKind::State)[0]->name, "m");
  // Results need not alias anything.
  EXPECT_TRUE(parseProgramInfo(training("", "")).ok());
}

TEST(TrainingInfo, ErrorsNameTheMember) {
  std::string stepI32 =
      programJson({{"x", 2}}, {}, "cpu",
                  R"([{"index": 0, "kind": "step", "name": "k", "dtype": "i32",
           "global_shape": [], "local_shape": [], "sharding": []}])");
  std::string stepVector = programJson(
      {{"x", 2}}, {}, "cpu",
      absl::StrCat("[", tensor(0, "k", R"(, "kind": "step")"), "]"));
  std::string stateNoInit = programJson(
      {{"x", 2}}, {}, "cpu",
      absl::StrCat("[", tensor(0, "m", R"(, "kind": "state")"), "]"));
  std::string inputInit = programJson(
      {{"x", 2}}, {}, "cpu",
      absl::StrCat("[",
                   tensor(0, "t", absl::StrCat(R"(, "kind": "input")", kZeros)),
                   "]"));
  std::string badKind = programJson(
      {{"x", 2}}, {}, "cpu",
      absl::StrCat("[", tensor(0, "t", R"(, "kind": "momentum")"), "]"));
  std::string otherShape = training();
  otherShape.replace(otherShape.rfind(R"("sharding": [[]])"), 16,
                     R"("sharding": [["x"]])");
  otherShape.replace(otherShape.rfind(R"("local_shape": [4])"), 18,
                     R"("local_shape": [2])");
  std::string otherDtype = training();
  otherDtype.replace(otherDtype.find(R"("name": "m_new", "dtype": "f32")"), 31,
                     R"("name": "m_new", "dtype": "bf16")");
  struct Case {
    std::string text, message;
  } cases[] = {
      {badKind, "args[0]: argument kind 'momentum' is not param, state, step "
                "or input"},
      {stateNoInit, "args[0]: state 'm' has no init"},
      {inputInit, "args[0].init: only parameters and state have an init"},
      {stepI32, "args[0]: step argument 'k' must be a 0-d f32 scalar"},
      {stepVector, "args[0]: step argument 'k' must be a 0-d f32 scalar"},
      {training("3"), "results[1].aliases: result 'w_new' aliases argument 3 "
                      "but there are 3 arguments"},
      {training("-1"), "results[1].aliases: -1 is not in [0, "},
      {training("\"w\""), "results[1].aliases: expected an integer"},
      {training("2"), "results[1].aliases: result 'w_new' aliases 'step', "
                      "which is neither a param nor state"},
      {training("1", "1"), "results[2].aliases: argument 'm' is aliased by "
                           "two results ('w_new' and 'm_new')"},
      {otherShape, "results[2].aliases: result 'm_new' (f32, local shape [2]) "
                   "aliases 'm' (f32, local shape [4]): an alias needs the "
                   "same dtype, shapes and sharding"},
      {otherDtype, "result 'm_new' (bf16, local shape [4]) aliases 'm' (f32"},
  };
  for (const Case &c : cases) {
    auto info = parseProgramInfo(c.text);
    ASSERT_FALSE(info.ok()) << c.text;
    EXPECT_NE(info.status().message().find(c.message), std::string::npos)
        << info.status().message() << "\nwanted: " << c.message;
  }
}

/// Inputs "tokens.mb<i>" ([4] i32, split over x when `sharded`) with the
/// "microbatch" members `members[i]` ({of, index, count} as JSON).
std::string microbatched(const std::vector<std::string> &members,
                         int shardedIndex = -1) {
  std::string args = "[";
  for (size_t i = 0; i < members.size(); ++i)
    absl::StrAppend(
        &args, i ? "," : "",
        tensor(static_cast<int>(i), absl::StrCat("tokens.mb", i),
               absl::StrCat(R"(, "kind": "input", "microbatch": )",
                            members[i]),
               static_cast<int>(i) == shardedIndex, "i32"));
  return programJson({{"x", 2}}, {}, "cpu", args + "]");
}

TEST(TrainingInfo, ParsesMicrobatches) {
  auto info = parseProgramInfo(
      microbatched({R"({"of": "tokens", "index": 1, "count": 2})",
                    R"({"of": "tokens", "index": 0, "count": 2})"}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->args[0].batchOf, "tokens");
  EXPECT_EQ(info->args[0].inputName(), "tokens");
  EXPECT_EQ(info->args[0].microbatch, 1);
  EXPECT_EQ(info->args[0].microbatches, 2);
  EXPECT_EQ(info->args[1].microbatch, 0);
}

TEST(TrainingInfo, MicrobatchErrorsNameTheInput) {
  std::string param = programJson(
      {{"x", 2}}, {}, "cpu",
      absl::StrCat("[",
                   tensor(0, "w", R"(, "kind": "param",
                       "init": {"kind": "normal", "stddev": 1},
                       "microbatch": {"of": "w", "index": 0, "count": 1})"),
                   "]"));
  struct Case {
    std::string text, message;
  } cases[] = {
      {param, "'w' is not an input with a batch dimension"},
      {microbatched({R"({"of": "tokens", "index": 2, "count": 2})"}),
       "is not in [0, 1]"},
      {microbatched({R"({"of": "tokens", "index": 0, "count": 2})"}),
       "input 'tokens' lacks micro-batch 1 of 2"},
      {microbatched({R"({"of": "tokens", "index": 1, "count": 2})"}),
       "input 'tokens' lacks micro-batch 0 of 2"},
      {microbatched({R"({"of": "tokens", "index": 0, "count": 2})",
                     R"({"of": "tokens", "index": 0, "count": 2})"}),
       "the micro-batches of input 'tokens' disagree"},
      {microbatched({R"({"of": "tokens", "index": 0, "count": 2})",
                     R"({"of": "tokens", "index": 1, "count": 3})"}),
       "the micro-batches of input 'tokens' disagree"},
      {microbatched({R"({"of": "tokens", "index": 0, "count": 2})",
                     R"({"of": "tokens", "index": 1, "count": 2})"},
                    /*shardedIndex=*/1),
       "('tokens.mb1' differs from 'tokens.mb0')"},
  };
  for (const Case &c : cases) {
    auto info = parseProgramInfo(c.text);
    ASSERT_FALSE(info.ok()) << c.text;
    EXPECT_NE(info.status().message().find(c.message), std::string::npos)
        << info.status().message() << "\nwanted: " << c.message;
  }
}

TEST(StepReport, LineAndMetricsHaveOnlyKnownMembers) {
  StepReport r;
  r.step = 3;
  r.seconds = 0.5;
  EXPECT_EQ(stepLine(r),
            "step 3 step_time 0.5000 s collectives 0.0000 s (0.0%)");
  EXPECT_EQ(metricsLine(r), R"({"step": 3, "step_s": 0.5})");
  r.loss = 2.5;
  r.gradNorm = 0.125;
  r.lr = 1e-3;
  r.tokensPerSecond = 30;
  r.mfu = 0.25;
  r.collectiveSeconds = 0.125;
  EXPECT_EQ(stepLine(r), "step 3 loss 2.500000 grad_norm 0.1250 lr 1.000e-03 "
                         "tokens/s 30.0 mfu 25.0% step_time 0.5000 s "
                         "collectives 0.1250 s (25.0%)");
  EXPECT_EQ(metricsLine(r),
            R"({"step": 3, "loss": 2.5, "grad_norm": 0.125, "lr": )"
            R"(0.001, "tokens_per_s": 30, "step_s": 0.5, "mfu": 0.25})");
  r.loss = std::nan("");
  EXPECT_NE(metricsLine(r).find(R"("loss": null)"), std::string::npos);
}

} // namespace
} // namespace palmrt
