//===- palm-gen.cpp - PaLM model generator --------------------------------===//
//
// Writes the global palm IR of a PaLM-style model from a preset or a JSON
// config, sharded by a named layout over a data x model mesh, or prints the
// model's statistics. Every user error is one line on stderr and exit code
// 1. See docs/palm-gen.md.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/ModelBuilder.h"
#include "palm/Gen/Stats.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace mlir::palm::gen;
namespace cl = llvm::cl;

static cl::OptionCategory genCategory("palm-gen options");

static cl::opt<std::string>
    presetName("preset",
               cl::desc("Model preset: tiny, small, palm-8b, palm-62b or "
                        "palm-540b"),
               cl::value_desc("name"), cl::cat(genCategory));
static cl::opt<std::string>
    configFile("config", cl::desc("JSON model config (see docs/palm-gen.md)"),
               cl::value_desc("file"), cl::cat(genCategory));
static cl::opt<std::string>
    meshSpec("mesh",
             cl::desc("Mesh axis sizes, e.g. data=4,model=2 (an axis left "
                      "out has size 1)"),
             cl::value_desc("spec"), cl::init(""), cl::cat(genCategory));
static cl::opt<std::string>
    layoutName("layout",
               cl::desc("Parallelism layout: replicated, dp, fsdp, megatron, "
                        "megatron-sp or palm-2d"),
               cl::value_desc("name"), cl::init("replicated"),
               cl::cat(genCategory));
static cl::opt<std::string>
    blockOverride("block",
                  cl::desc("Override the block kind: parallel or serial"),
                  cl::value_desc("kind"), cl::cat(genCategory));
static cl::opt<std::string>
    dtypeOverride("dtype", cl::desc("Override the element type: f32 or bf16"),
                  cl::value_desc("type"), cl::cat(genCategory));
static cl::opt<std::string> paramDtypeOverride(
    "param-dtype",
    cl::desc("The parameters' (and optimizer state's) element type, f32 or "
             "bf16, when it differs from --dtype: the step converts them "
             "where it reads them. Default: --dtype, but f32 (master "
             "weights) for a bf16 --train"),
    cl::value_desc("type"), cl::cat(genCategory));
static cl::opt<std::string>
    batchOverride("batch", cl::desc("Override the batch (sequences per step)"),
                  cl::value_desc("n"), cl::cat(genCategory));
static cl::opt<std::string>
    seqOverride("seq", cl::desc("Override the sequence length"),
                cl::value_desc("n"), cl::cat(genCategory));
static cl::opt<std::string> vocabOverride(
    "vocab",
    cl::desc("Override the vocabulary size (a tokenizer's, e.g. the demo's "
             "2048)"),
    cl::value_desc("n"), cl::cat(genCategory));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(genCategory));
static cl::opt<bool> returnLogits(
    "return-logits",
    cl::desc("Also return the logits (a second result, named \"logits\"), "
             "to check a compiled program against a reference"),
    cl::init(false), cl::cat(genCategory));
static cl::opt<bool>
    train("train",
          cl::desc("Write the whole training step (forward, loss, backward, "
                   "global-norm clipping, optimizer update) instead of the "
                   "forward; see docs/training.md"),
          cl::init(false), cl::cat(genCategory));
static cl::opt<std::string>
    optimizerName("optimizer",
                  cl::desc("With --train: adafactor (PaLM's, the default) or "
                           "adamw"),
                  cl::value_desc("name"), cl::init("adafactor"),
                  cl::cat(genCategory));
static cl::opt<std::string> lrSchedule(
    "lr-schedule",
    cl::desc("With --train: inverse-sqrt (PaLM's, the default) or "
             "warmup-cosine"),
    cl::value_desc("name"), cl::init("inverse-sqrt"), cl::cat(genCategory));
static cl::opt<std::string>
    peakLr("peak-lr",
           cl::desc("With --train: the peak learning rate (default 1: "
                    "inverse-sqrt gives 1/sqrt(max(k, warmup)))"),
           cl::value_desc("x"), cl::cat(genCategory));
static cl::opt<std::string>
    warmupSteps("warmup-steps",
                cl::desc("With --train: warmup steps (default 10000)"),
                cl::value_desc("n"), cl::cat(genCategory));
static cl::opt<std::string>
    totalSteps("total-steps",
               cl::desc("With --train and warmup-cosine: the step where the "
                        "cosine decay ends"),
               cl::value_desc("n"), cl::cat(genCategory));
static cl::opt<std::string>
    finalLr("final-lr",
            cl::desc("With --train and warmup-cosine: the learning rate after "
                     "the decay (default 0)"),
            cl::value_desc("x"), cl::cat(genCategory));
static cl::opt<std::string> weightDecay(
    "weight-decay",
    cl::desc("With --train: weight decay (adafactor: times lr^2, default 1; "
             "adamw: default 0.1)"),
    cl::value_desc("x"), cl::cat(genCategory));
static cl::opt<std::string> rematPolicy(
    "remat",
    cl::desc("With --train (or --stats, for the memory estimate): "
             "rematerialization, none (the default) or layers "
             "(PaLM's: each layer's backward recomputes its forward from the "
             "layer's input)"),
    cl::value_desc("policy"), cl::init("none"), cl::cat(genCategory));
static cl::opt<int64_t> microbatches(
    "microbatches",
    cl::desc("With --train (or --stats, for the memory estimate): gradient "
             "accumulation, the step's batch split "
             "into n micro-batches run one after the other, their gradients "
             "averaged before one update (default 1)"),
    cl::value_desc("n"), cl::init(1), cl::cat(genCategory));
static cl::opt<std::string> statsFormat(
    "stats-format", cl::desc("Format of --stats: text (default) or json"),
    cl::value_desc("format"), cl::init("text"), cl::cat(genCategory));

/// Prints `message` as palm-gen's one error line and returns exit code 1.
static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "palm-gen") << message << "\n";
  return 1;
}

static int fail(llvm::Error error) {
  return fail(llvm::toString(std::move(error)));
}

/// "'a', 'b' or 'c'" for messages.
static std::string listNames(llvm::ArrayRef<llvm::StringRef> names) {
  std::string text;
  for (auto [i, name] : llvm::enumerate(names))
    text += (i == 0                  ? ""
             : i + 1 == names.size() ? " or "
                                     : ", ") +
            ("'" + name + "'").str();
  return text;
}

/// Parses a positive --batch/--seq/--vocab value.
static llvm::Expected<int64_t> parsePositive(llvm::StringRef flag,
                                             llvm::StringRef text) {
  int64_t value;
  if (text.getAsInteger(10, value) || value <= 0)
    return makeGenError("--" + flag +
                        " must be a positive integer that fits "
                        "in int64, got '" +
                        text + "'");
  return value;
}

/// The config from --preset or --config, with the flag overrides applied.
static llvm::Expected<ModelConfig> loadConfig() {
  bool havePreset = presetName.getNumOccurrences() > 0;
  bool haveConfig = configFile.getNumOccurrences() > 0;
  if (havePreset == haveConfig)
    return makeGenError("give exactly one of --preset and --config");

  ModelConfig config;
  if (havePreset) {
    std::optional<ModelConfig> preset = getPreset(presetName);
    if (!preset)
      return makeGenError("--preset: unknown preset '" + presetName +
                          "'; expected " + listNames(getPresetNames()));
    config = *preset;
  } else {
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
        llvm::MemoryBuffer::getFileOrSTDIN(configFile, /*IsText=*/true);
    if (!buffer)
      return makeGenError("--config: cannot read '" + configFile +
                          "': " + buffer.getError().message());
    llvm::Expected<ModelConfig> parsed =
        parseModelConfig((*buffer)->getBuffer(), configFile);
    if (!parsed)
      return parsed.takeError();
    config = *parsed;
  }

  if (blockOverride.getNumOccurrences()) {
    std::optional<BlockKind> block = parseBlockKind(blockOverride);
    if (!block)
      return makeGenError("--block must be 'parallel' or 'serial', got '" +
                          blockOverride + "'");
    config.block = *block;
  }
  if (dtypeOverride.getNumOccurrences()) {
    std::optional<DType> dtype = parseDType(dtypeOverride);
    if (!dtype)
      return makeGenError("--dtype must be 'f32' or 'bf16', got '" +
                          dtypeOverride + "'");
    config.dtype = *dtype;
  }
  if (paramDtypeOverride.getNumOccurrences()) {
    std::optional<DType> dtype = parseDType(paramDtypeOverride);
    if (!dtype)
      return makeGenError("--param-dtype must be 'f32' or 'bf16', got '" +
                          paramDtypeOverride + "'");
    config.paramDType = *dtype;
  }
  // Mixed precision: a bf16 training step keeps f32 master weights and
  // optimizer state unless told otherwise.
  if (train && !config.paramDType && config.dtype == DType::BF16)
    config.paramDType = DType::F32;
  for (auto [flag, text, field] :
       {std::make_tuple("batch", &batchOverride, &config.batch),
        std::make_tuple("seq", &seqOverride, &config.seq),
        std::make_tuple("vocab", &vocabOverride, &config.vocab)}) {
    if (!text->getNumOccurrences())
      continue;
    llvm::Expected<int64_t> value = parsePositive(flag, *text);
    if (!value)
      return value.takeError();
    *field = *value;
  }
  if (llvm::Error error = verifyModelConfig(config))
    return std::move(error);
  return config;
}

/// Removes --stats from `args` and says whether it was there. libLLVM
/// already owns a cl::opt called "stats" (its statistics counters), so
/// palm-gen's flag of that name cannot be a cl::opt.
static bool takeStatsFlag(llvm::SmallVectorImpl<const char *> &args) {
  size_t before = args.size();
  llvm::erase_if(args, [](const char *arg) {
    return llvm::StringRef(arg) == "--stats" ||
           llvm::StringRef(arg) == "-stats";
  });
  return args.size() != before;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::SmallVector<const char *> args(argv, argv + argc);
  bool printStats = takeStatsFlag(args);
  cl::HideUnrelatedOptions(genCategory);
  cl::ParseCommandLineOptions(
      args.size(), args.data(),
      "palm-gen: writes the global palm IR of a PaLM-style model\n\n"
      "  --stats   print model statistics instead of the IR (the IR is still\n"
      "            written when -o is given); see --stats-format\n");

  llvm::Expected<ModelConfig> config = loadConfig();
  if (!config)
    return fail(config.takeError());
  std::optional<Layout> layout = parseLayout(layoutName);
  if (!layout)
    return fail("--layout: unknown layout '" + layoutName + "'; expected " +
                listNames(getLayoutNames()));
  llvm::Expected<MeshShape> mesh = parseMeshSpec(meshSpec);
  if (!mesh)
    return fail(mesh.takeError());
  if (llvm::Error error = verifyLayoutOnMesh(*layout, *mesh))
    return fail(std::move(error));
  if (statsFormat != "text" && statsFormat != "json")
    return fail("--stats-format must be 'text' or 'json', got '" + statsFormat +
                "'");

  if (microbatches < 1 || config->batch % microbatches != 0)
    return fail("--microbatches " + llvm::Twine(microbatches.getValue()) +
                " must be at least 1 and divide the batch " +
                llvm::Twine(config->batch));
  if (printStats) {
    if (rematPolicy != "none" && rematPolicy != "layers")
      return fail("--remat must be 'none' or 'layers', got '" + rematPolicy +
                  "'");
    TrainingShape shape;
    shape.rematLayers = rematPolicy == "layers";
    shape.microbatches = microbatches;
    llvm::Expected<ModelStats> stats =
        computeStats(*config, *layout, *mesh, shape);
    if (!stats)
      return fail(stats.takeError());
    if (statsFormat == "json")
      printStatsJSON(*stats, *config, *layout, *mesh, llvm::outs());
    else
      printStatsText(*stats, *config, *layout, *mesh, llvm::outs());
    if (outputFile.getNumOccurrences() == 0)
      return 0;
  }

  std::optional<TrainOptions> trainOptions;
  if (train) {
    TrainOptions t;
    t.autodiffOptions = "remat=" + rematPolicy.getValue();
    t.microbatches = microbatches;
    t.optimizerOptions = "optimizer=" + optimizerName.getValue() +
                         " schedule=" + lrSchedule.getValue();
    for (auto [flag, option] :
         {std::pair(&peakLr, "peak-lr"), std::pair(&warmupSteps, "warmup-steps"),
          std::pair(&totalSteps, "total-steps"), std::pair(&finalLr, "final-lr"),
          std::pair(&weightDecay, "weight-decay")})
      if (flag->getNumOccurrences())
        t.optimizerOptions +=
            std::string(" ") + option + "=" + flag->getValue();
    trainOptions = t;
  } else {
    for (cl::opt<std::string> *flag :
         {&optimizerName, &lrSchedule, &peakLr, &warmupSteps, &totalSteps,
          &finalLr, &weightDecay, &rematPolicy})
      if (flag->getNumOccurrences())
        return fail("--" + flag->ArgStr + " needs --train");
    if (microbatches.getNumOccurrences())
      return fail("--microbatches needs --train");
  }

  std::error_code ec;
  llvm::ToolOutputFile output(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail("-o: cannot open '" + outputFile + "': " + ec.message());
  if (llvm::Error error =
          emitModel(*config, *layout, *mesh, output.os(), returnLogits,
                    trainOptions))
    return fail(std::move(error));
  output.keep();
  return 0;
}
