//===- program_eval.cc - the held-out loss of --eval-data -----------------===//
//
// An evaluation runs the training step itself on held-out batches and keeps
// only its loss, which the step computes with the parameters it was given,
// before it updates them. The updates it makes are thrown away: the
// parameter and state arguments are copied aside before and copied back
// after, on the program's device, so the next step starts from exactly the
// values it would have had.
//
//===----------------------------------------------------------------------===//

#include "exe/data_tokens.h"
#include "exe/program.h"

#include "job/process.h"

namespace palmrt {

absl::Status Program::prepareEvaluation() {
  if (options.evalData.empty())
    return absl::OkStatus();
  const TensorSpec *loss = info.findResult("loss");
  if (!loss || loss->dtype != PALMRT_F32 || loss->localElements() < 1)
    return absl::InvalidArgumentError(
        "--eval-data evaluates the 'loss' result, but the program has no f32 "
        "result of that name");
  bool updatesParameters = false;
  for (const TensorSpec &r : info.results)
    updatesParameters |=
        r.aliases >= 0 &&
        info.args[static_cast<size_t>(r.aliases)].kind == TensorKind::Param;
  if (!updatesParameters)
    return absl::InvalidArgumentError(
        "--eval-data needs a training step, but no result of the program "
        "updates a parameter (none 'aliases' a param argument)");
  if (!tokens && !targets)
    return absl::InvalidArgumentError(
        "--eval-data gives tokens, but the program has no 'tokens' or "
        "'targets' input");
  int64_t seq = (tokens ? tokens : targets)->globalShape[1];
  absl::StatusOr<std::unique_ptr<FileTokens>> file = FileTokens::open(
      options.evalData, seed, seq, vocab, DataStream::Eval);
  if (!file.ok())
    return file.status();
  evalSource = *std::move(file);

  // The copies live where the arguments do; the context's device allocates
  // and copies host memory on the CPU backend and GPU memory on cuda.
  trained = checkpointTensors();
  for (const TensorSpec *t : trained) {
    absl::StatusOr<void *> memory = ctx->device->allocate(t->localBytes());
    if (!memory.ok())
      return memory.status();
    snapshot.push_back(*memory);
  }
  return absl::OkStatus();
}

void Program::evaluate(int64_t step) {
  // The step's updates are still in its results until the next step begins:
  // move them into the arguments for the evaluation, and back after it.
  bool pending = aliasesPending;
  if (pending)
    swapAliases();
  Device &memory = *ctx->device;
  for (size_t i = 0; i < trained.size(); ++i)
    memory.copy(snapshot[i], pointers[slotOf(*trained[i])],
                trained[i]->localBytes());

  double start = nowSeconds(), sum = 0;
  for (int64_t batch = 1; batch <= options.evalBatches; ++batch) {
    // The step scalar is the current step's: it moves only the learning rate
    // and the decay rates of updates that are discarded.
    fillInputsFrom(step, evalSource.get(), batch);
    callEntry(absl::StrCat("held-out batch ", batch, " after step ", step));
    sum += *scalarResult("loss");
    // The next batch must see the same parameters and state.
    for (size_t i = 0; i < trained.size(); ++i)
      memory.copy(pointers[slotOf(*trained[i])], snapshot[i],
                  trained[i]->localBytes());
  }
  if (pending)
    swapAliases();
  if (tracer)
    tracer->complete(absl::StrCat("eval step ", step), "eval", start,
                     nowSeconds());

  if (process().rank != 0)
    return;
  double heldoutLoss = sum / static_cast<double>(options.evalBatches);
  std::printf("%s\n", evalLine(step, heldoutLoss, options.evalBatches).c_str());
  std::fflush(stdout);
  if (metrics) {
    std::fprintf(metrics.get(), "%s\n",
                 evalMetricsLine(step, heldoutLoss).c_str());
    std::fflush(metrics.get());
  }
}

} // namespace palmrt
