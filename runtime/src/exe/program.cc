//===- program.cc - a compiled program: checks, buffers, tensors ----------===//
//
// Setting a program up: its checks, the device, buffers, parameters and
// inputs, and the tensor files it reads and writes.
//
//===----------------------------------------------------------------------===//

#include "exe/program.h"

#include "exe/data_tokens.h"
#include "exe/generator.h"
#include "io/shards.h"
#include "job/process.h"

#include <cerrno>
#include <cstring>

namespace palmrt {

absl::Status Program::checkProgram() {
  if (!entry)
    return absl::InvalidArgumentError("the program has no entry function");
  if (arenaBytes < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("negative arena size ", arenaBytes));
  for (const TensorSpec &t : info.args) {
    int64_t shift = t.inputName() == "tokens"    ? 0
                    : t.inputName() == "targets" ? 1
                                                 : -1;
    if (shift < 0)
      continue;
    if (t.kind != TensorKind::Input || t.globalShape.size() != 2 ||
        (t.dtype != PALMRT_I32 && t.dtype != PALMRT_I64))
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", t.name,
                       "' must be an i32 or i64 input of shape [batch, seq]"));
    tokenInputs.push_back({&t, shift});
    if (t.microbatch == 0)
      (shift ? targets : tokens) = &t;
  }
  if (tokens || targets) {
    vocab = info.vocab;
    const TensorSpec *embedding = info.findArg("embedding");
    if (vocab == 0 && embedding && !embedding->globalShape.empty())
      vocab = embedding->globalShape[0];
    if (vocab <= 0)
      return absl::InvalidArgumentError(
          "the program reads tokens but names no vocabulary: it needs a "
          "\"vocab\" in its description or an 'embedding' parameter "
          "[vocab, d_model]");
  }
  for (const TensorSpec &t : info.args)
    if ((t.kind == TensorKind::Param || t.kind == TensorKind::State) &&
        t.init == InitKind::Normal && t.dtype != PALMRT_F32 &&
        t.dtype != PALMRT_BF16)
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", t.name, "' of type ", dtypeName(t.dtype),
                       " cannot be initialised from a normal distribution"));
  if (!options.data.empty() && !tokens && !targets)
    return absl::InvalidArgumentError(
        "--data gives tokens, but the program has no 'tokens' or 'targets' "
        "input");
  return absl::OkStatus();
}

absl::Status Program::openDevice() {
  bool needNccl = false;
  for (const palmrt_context::Group &g : ctx->groups)
    needNccl |= g.size > 1;
  auto opened = openCudaDevice(localRank(), localSize(), needNccl);
  if (!opened.ok())
    return absl::Status(opened.status().code(),
                        absl::StrCat("this program was compiled for cuda, but ",
                                     opened.status().message()));
  ctx->device = std::move(*opened);
  device = ctx->device.get();
  return absl::OkStatus();
}

absl::Status Program::connectDevice() {
  if (absl::Status s = device->connect(*ctx); !s.ok())
    return absl::Status(
        s.code(), absl::StrCat("on ", device->describe(), ": ", s.message()));
  return absl::OkStatus();
}

absl::Status Program::allocate() {
  for (const auto *list : {&info.args, &info.results})
    for (const TensorSpec &t : *list) {
      buffers.push_back(std::make_unique<Buffer>(t.localBytes()));
      if (!device) {
        pointers.push_back(buffers.back()->data);
        continue;
      }
      absl::StatusOr<void *> memory = device->allocate(t.localBytes());
      if (!memory.ok())
        return memory.status();
      pointers.push_back(*memory);
    }
  if (!device) {
    arena = std::make_unique<Buffer>(arenaBytes);
    arenaPointer = arena->data;
    return absl::OkStatus();
  }
  absl::StatusOr<void *> memory = device->allocate(arenaBytes);
  if (!memory.ok())
    return memory.status();
  arenaPointer = *memory;
  return absl::OkStatus();
}

absl::Status Program::upload(const TensorSpec &t) {
  if (!device)
    return absl::OkStatus();
  return device->upload(pointers[slotOf(t)], bufferOf(t), t.localBytes());
}

absl::Status Program::download(const TensorSpec &t) {
  if (!device)
    return absl::OkStatus();
  return device->download(bufferOf(t), pointers[slotOf(t)], t.localBytes());
}

absl::Status Program::transferAll(const std::vector<TensorSpec> &tensors,
                                  bool toDevice) {
  for (const TensorSpec &t : tensors)
    if (absl::Status s = toDevice ? upload(t) : download(t); !s.ok())
      return s;
  return absl::OkStatus();
}

absl::Status Program::initParameters() {
  // Optimizer state starts from its init (zeros) even with --weights, which
  // holds parameters only.
  for (const TensorSpec *t : info.argsOfKind(TensorKind::State))
    fillParameter(info, *t, rank(), seed, bufferOf(*t));
  std::vector<const TensorSpec *> params = info.argsOfKind(TensorKind::Param);
  std::vector<void *> destinations;
  for (const TensorSpec *t : params)
    destinations.push_back(bufferOf(*t));
  if (!options.weights.empty())
    return readShards(options.weights, "weights", info, rank(), params,
                      destinations);
  for (const TensorSpec *t : params) {
    absl::StatusOr<bool> onDevice = generateOnDevice(*t);
    if (!onDevice.ok())
      return onDevice.status();
    if (!*onDevice)
      fillParameter(info, *t, rank(), seed, bufferOf(*t));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Program::generateOnDevice(const TensorSpec &t) {
  if (!device || t.init != InitKind::Normal ||
      (t.dtype != PALMRT_F32 && t.dtype != PALMRT_BF16))
    return false;
  Device::NormalInit init;
  init.out = pointers[slotOf(t)];
  init.bf16 = t.dtype == PALMRT_BF16;
  init.stddev = t.stddev;
  init.seed = static_cast<uint32_t>(seed);
  init.nameHash = fnv1a32(t.name);
  init.localShape = t.localShape;
  init.offset = shardOffsets(info, t, rank());
  init.globalShape = t.globalShape;
  absl::StatusOr<bool> done = device->initNormal(init);
  if (!done.ok() || !*done)
    return done;
  // The host copy too: --save-weights and the upload before the first step
  // read it.
  if (absl::Status s = download(t); !s.ok())
    return s;
  return true;
}

absl::Status Program::openTokenSource() {
  if (!tokens && !targets)
    return absl::OkStatus();
  if (options.data.empty()) {
    tokenSource = std::make_unique<SyntheticTokens>(seed, vocab);
    return absl::OkStatus();
  }
  int64_t seq = (tokens ? tokens : targets)->globalShape[1];
  absl::StatusOr<std::unique_ptr<FileTokens>> file =
      FileTokens::open(options.data, seed, seq, vocab);
  if (!file.ok())
    return file.status();
  tokenSource = *std::move(file);
  return absl::OkStatus();
}

absl::Status Program::openMetrics() {
  if (options.metrics.empty() || rank() != 0)
    return absl::OkStatus();
  metrics.reset(std::fopen(options.metrics.c_str(), "a"));
  if (!metrics)
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics ", options.metrics,
                     ": cannot open for appending: ", std::strerror(errno)));
  return absl::OkStatus();
}

void Program::commitAliases() {
  if (!aliasesPending)
    return;
  aliasesPending = false;
  swapAliases();
}

void Program::swapAliases() {
  for (const TensorSpec &r : info.results) {
    if (r.aliases < 0)
      continue;
    size_t arg = static_cast<size_t>(r.aliases), result = slotOf(r);
    std::swap(buffers[arg], buffers[result]);
    std::swap(pointers[arg], pointers[result]);
  }
}

absl::Status Program::saveTensors(const std::string &dir,
                                  const std::string &prefix, bool outputs,
                                  const std::string &run) {
  std::vector<const TensorSpec *> tensors;
  if (outputs) {
    for (const TensorSpec &t : info.results)
      tensors.push_back(&t);
    // A result of the same name wins: names in a file are unique.
    for (auto [t, shift] : tokenInputs)
      if (!info.findResult(t->name))
        tensors.push_back(t);
  } else {
    for (const TensorSpec &t : info.args)
      if (t.kind == TensorKind::Param)
        tensors.push_back(&t);
  }
  std::vector<const void *> data;
  for (const TensorSpec *t : tensors)
    data.push_back(bufferOf(*t));
  return writeShards(dir, prefix, info, rank(), tensors, data, run);
}

absl::Status Program::readInputs() {
  std::vector<const TensorSpec *> inputs;
  std::vector<void *> destinations;
  for (const TensorSpec &t : info.args)
    if (t.kind == TensorKind::Input) {
      inputs.push_back(&t);
      destinations.push_back(bufferOf(t));
    }
  return readShards(options.inputs, "outputs", info, rank(), inputs,
                    destinations);
}

void Program::fillInputs(int64_t step) {
  fillInputsFrom(step, options.inputs.empty() ? tokenSource.get() : nullptr,
                 batchOfStep(step, skipBatches));
}

void Program::fillInputsFrom(int64_t step, const TokenSource *source,
                             int64_t tokenStep) {
  for (const TensorSpec *t : info.argsOfKind(TensorKind::Step)) {
    *static_cast<float *>(bufferOf(*t)) = static_cast<float>(step);
    if (absl::Status s = upload(*t); !s.ok())
      fatal(s.message());
  }
  if (!source)
    return;
  for (auto [t, shift] : tokenInputs) {
    // A bad token in --data is found here, by the rank whose shard holds it.
    if (absl::Status s = fillTokens(info, *t, rank(), *source, tokenStep, shift,
                                    bufferOf(*t));
        !s.ok())
      fatal(s.message());
    if (absl::Status s = upload(*t); !s.ok())
      fatal(s.message());
  }
}

} // namespace palmrt
