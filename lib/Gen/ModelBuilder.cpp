//===- ModelBuilder.cpp - global palm IR of a model -----------------------===//
//
// Emits one forward pass: embedding, the unrolled layers, the final
// LayerNorm, tied logits scaled by 1/sqrt(d_model), and cross-entropy with
// z-loss. Parameters of another type than the activations (f32 master
// weights of a bf16 step) are converted once, at the top, and the forward
// reads the copies; so the backward's gradients arrive in the compute type
// and are converted back to the parameters' (the convert's VJP). Shardings go on the arguments (and, for megatron-sp, on the
// residual stream, the LayerNorm outputs and the row-parallel outputs);
// propagation fills in the rest.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/ModelBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/IR/Verifier.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "mlir/Pass/PassManager.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Support/DiagnosticPrinter.h"
#include "llvm/Support/SourceMgr.h"

#include <cmath>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::gen;

namespace {

/// The weights of one layer, as function arguments. ln2 is null in a
/// parallel block.
struct LayerWeights {
  Value ln1, ln2, wq, wk, wv, wo, wgate, wup, wdown;
};

/// Builds the module for one config, layout and mesh.
class ModelBuilder {
public:
  ModelBuilder(MLIRContext &context, const ModelConfig &config, Layout layout,
               MeshShape mesh, bool returnLogits)
      : context(context), config(config), layout(layout), mesh(mesh),
        returnLogits(returnLogits), builder(&context),
        meshRef(FlatSymbolRefAttr::get(&context, "mesh")) {}

  OwningOpRef<ModuleOp> build();

private:
  /// The location naming an op ("layers.3.attention.q").
  Location named(const Twine &name) {
    return NameLoc::get(StringAttr::get(&context, name));
  }
  ShardingAttr getSharding(ArrayRef<MeshAxis> axes);
  RankedTensorType getTensorType(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, elementType);
  }
  /// `param` in the compute type: itself, or its conversion.
  Value inComputeType(Value param, StringRef name);
  /// Creates the function and its arguments; fills `tokens`, `targets`,
  /// `embedding`, `finalNorm` and `layers`.
  func::FuncOp buildSignature(ModuleOp module);
  /// Pins the residual stream to [batch over data, seq over model, -] where
  /// the layout is sequence parallel; otherwise returns `x`.
  Value constrainResidual(Value x, const Twine &name);
  /// LayerNorm, named `name`. Where the layout is sequence parallel, the
  /// output is pinned whole along seq ("<name>.constraint"): this is where
  /// Megatron-SP all-gathers the sequence before the column-parallel
  /// matmuls; left free, propagation would rather gather the weights.
  Value buildLayerNorm(Value x, Value scale, const std::string &name);
  /// Where the layout is sequence parallel, pins a row-parallel output
  /// (attention, MLP or their sum: a partial sum over model) to [batch over
  /// data, -, -] unreduced over model ("<name>.constraint"). The forward is
  /// unchanged (the value already is that; the residual add reduce-scatters
  /// it), but the constraint's cotangent is [batch over data, -, -]: this
  /// is where Megatron-SP's backward all-gathers the residual stream's
  /// cotangent before the row-parallel matmuls' backward, which then splits
  /// heads and d_ff over model as the forward did. Left free, propagation
  /// would keep the cotangent split along seq and gather the weights.
  Value constrainPartial(Value x, const Twine &name);
  Value buildDot(Value lhs, Value rhs, ArrayRef<int64_t> lhsContracting,
                 ArrayRef<int64_t> rhsContracting, const Twine &name);
  Value buildAttention(Value h, const LayerWeights &w, StringRef prefix);
  Value buildMlp(Value h, const LayerWeights &w, StringRef prefix);
  Value buildLayer(Value x, const LayerWeights &w, int64_t layer);

  MLIRContext &context;
  const ModelConfig &config;
  Layout layout;
  MeshShape mesh;
  bool returnLogits;
  OpBuilder builder;
  FlatSymbolRefAttr meshRef;
  Type elementType, paramType;
  Value tokens, targets, embedding, finalNorm;
  SmallVector<LayerWeights> layers;
};

} // namespace

ShardingAttr ModelBuilder::getSharding(ArrayRef<MeshAxis> axes) {
  SmallVector<AxisListAttr> dims;
  dims.reserve(axes.size());
  for (MeshAxis axis : axes) {
    SmallVector<StringAttr, 1> names;
    if (axis != MeshAxis::None)
      names.push_back(StringAttr::get(&context, stringifyMeshAxis(axis)));
    dims.push_back(AxisListAttr::get(&context, names));
  }
  return ShardingAttr::get(meshRef, dims);
}

func::FuncOp ModelBuilder::buildSignature(ModuleOp module) {
  std::vector<ParamSpec> params = getParameters(config);
  SmallVector<Type> types;
  SmallVector<Location> locs;
  SmallVector<DictionaryAttr> argAttrs;
  types.reserve(params.size() + 2);
  locs.reserve(params.size() + 2);
  argAttrs.reserve(params.size() + 2);

  auto nameAttr = [&](StringRef name) {
    return builder.getNamedAttr(PalmDialect::kNameAttrName,
                                builder.getStringAttr(name));
  };
  auto shardingAttr = [&](ArrayRef<MeshAxis> axes) {
    return builder.getNamedAttr(PalmDialect::kShardingAttrName,
                                getSharding(axes));
  };

  // Inputs carry no palm.init: that is what tells them from parameters.
  auto tokenType =
      RankedTensorType::get({config.batch, config.seq}, builder.getI32Type());
  for (StringRef name : {"tokens", "targets"}) {
    types.push_back(tokenType);
    locs.push_back(named(name));
    argAttrs.push_back(builder.getDictionaryAttr(
        {nameAttr(name), shardingAttr(getInputSharding(layout))}));
  }
  for (const ParamSpec &param : params) {
    types.push_back(RankedTensorType::get(param.shape, paramType));
    locs.push_back(named(param.name));
    InitAttr init =
        param.initStddev == 0.0
            ? InitAttr::get(&context, InitKind::Ones, llvm::APFloat(0.0))
            : InitAttr::get(&context, InitKind::Normal,
                            llvm::APFloat(param.initStddev));
    argAttrs.push_back(builder.getDictionaryAttr(
        {nameAttr(param.name),
         builder.getNamedAttr(PalmDialect::kInitAttrName, init),
         shardingAttr(getParameterSharding(param, layout))}));
  }

  SmallVector<Type> resultTypes = {
      RankedTensorType::get({}, builder.getF32Type())};
  if (returnLogits)
    resultTypes.push_back(
        getTensorType({config.batch, config.seq, config.vocab}));
  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, named("forward"), "forward",
                                   builder.getFunctionType(types, resultTypes),
                                   /*attrs=*/{}, argAttrs);
  func.setResultAttr(0, PalmDialect::kShardingAttrName, getSharding({}));
  func.setResultAttr(0, PalmDialect::kNameAttrName,
                     builder.getStringAttr("loss"));
  // The logits keep whatever sharding propagation gives them.
  if (returnLogits)
    func.setResultAttr(1, PalmDialect::kNameAttrName,
                       builder.getStringAttr("logits"));

  Block *entry = new Block();
  func.getBody().push_back(entry);
  entry->addArguments(types, locs);

  // Hand the arguments out by role; parameters follow the inputs in the
  // order of getParameters.
  tokens = entry->getArgument(0);
  targets = entry->getArgument(1);
  layers.resize(config.layers);
  builder.setInsertionPointToStart(entry);
  for (auto [param, argument] :
       llvm::zip_equal(params, entry->getArguments().drop_front(2))) {
    Value arg = inComputeType(argument, param.name);
    if (param.layer < 0) {
      (param.role == ParamRole::Embedding ? embedding : finalNorm) = arg;
      continue;
    }
    LayerWeights &w = layers[param.layer];
    switch (param.role) {
    case ParamRole::LayerNorm:
      (w.ln1 ? w.ln2 : w.ln1) = arg;
      break;
    case ParamRole::Wq:
      w.wq = arg;
      break;
    case ParamRole::Wk:
      w.wk = arg;
      break;
    case ParamRole::Wv:
      w.wv = arg;
      break;
    case ParamRole::Wo:
      w.wo = arg;
      break;
    case ParamRole::WGate:
      w.wgate = arg;
      break;
    case ParamRole::WUp:
      w.wup = arg;
      break;
    case ParamRole::WDown:
      w.wdown = arg;
      break;
    case ParamRole::Embedding:
      llvm_unreachable("the embedding belongs to no layer");
    }
  }
  // The forward follows the conversions.
  builder.setInsertionPointToEnd(entry);
  return func;
}

Value ModelBuilder::constrainResidual(Value x, const Twine &name) {
  if (!usesSequenceParallelism(layout))
    return x;
  ShardingAttr sharding =
      getSharding({MeshAxis::Data, MeshAxis::Model, MeshAxis::None});
  return ShardingConstraintOp::create(builder, named(name), x, sharding);
}

Value ModelBuilder::buildLayerNorm(Value x, Value scale,
                                   const std::string &name) {
  Value normed =
      LayerNormOp::create(builder, named(name), x, scale,
                          static_cast<float>(config.layerNormEpsilon));
  if (!usesSequenceParallelism(layout))
    return normed;
  ShardingAttr sharding =
      getSharding({MeshAxis::Data, MeshAxis::None, MeshAxis::None});
  return ShardingConstraintOp::create(builder, named(name + ".constraint"),
                                      normed, sharding);
}

Value ModelBuilder::constrainPartial(Value x, const Twine &name) {
  if (!usesSequenceParallelism(layout))
    return x;
  ShardingAttr whole =
      getSharding({MeshAxis::Data, MeshAxis::None, MeshAxis::None});
  StringAttr model =
      StringAttr::get(&context, stringifyMeshAxis(MeshAxis::Model));
  ShardingAttr sharding = ShardingAttr::get(
      &context, meshRef, whole.getDims(), ArrayRef<StringAttr>{model},
      ArrayRef<ReductionKind>{ReductionKind::Sum});
  return ShardingConstraintOp::create(builder, named(name), x, sharding);
}

Value ModelBuilder::buildDot(Value lhs, Value rhs,
                             ArrayRef<int64_t> lhsContracting,
                             ArrayRef<int64_t> rhsContracting,
                             const Twine &name) {
  return DotGeneralOp::create(builder, named(name), lhs, rhs, lhsContracting,
                              rhsContracting);
}

Value ModelBuilder::buildAttention(Value h, const LayerWeights &w,
                                   StringRef prefix) {
  // [b, s, d] x [d, heads, head_dim]: the heads stay a dimension of their
  // own, so a split over heads never cuts a head in half.
  Value q = buildDot(h, w.wq, {2}, {0}, prefix + "attention.q");
  Value k = buildDot(h, w.wk, {2}, {0}, prefix + "attention.k");
  Value v = buildDot(h, w.wv, {2}, {0}, prefix + "attention.v");
  FloatAttr base = builder.getF32FloatAttr(10000.0f);
  Value qRot =
      RopeOp::create(builder, named(prefix + "attention.q_rope"), q, base,
                     /*inverse=*/UnitAttr(), /*seq_shard=*/DimShardAttr());
  Value kRot =
      RopeOp::create(builder, named(prefix + "attention.k_rope"), k, base,
                     /*inverse=*/UnitAttr(), /*seq_shard=*/DimShardAttr());
  Value attended =
      AttentionOp::create(builder, named(prefix + "attention.attend"), qRot,
                          kRot, v, /*causal=*/true, /*scale=*/FloatAttr())
          .getResult();
  return buildDot(attended, w.wo, {2, 3}, {0, 1}, prefix + "attention.o");
}

Value ModelBuilder::buildMlp(Value h, const LayerWeights &w, StringRef prefix) {
  Value gate = buildDot(h, w.wgate, {2}, {0}, prefix + "mlp.gate");
  Value up = buildDot(h, w.wup, {2}, {0}, prefix + "mlp.up");
  Value swish = SiluOp::create(builder, named(prefix + "mlp.silu"), gate);
  Value glu = MulOp::create(builder, named(prefix + "mlp.glu"), swish, up);
  return buildDot(glu, w.wdown, {2}, {0}, prefix + "mlp.down");
}

Value ModelBuilder::buildLayer(Value x, const LayerWeights &w, int64_t layer) {
  std::string prefix = "layers." + std::to_string(layer) + ".";
  if (config.block == BlockKind::Parallel) {
    // y = x + attention(LN(x)) + MLP(LN(x)): the branches are summed first,
    // so partial sums from both reach one reduction.
    Value h = buildLayerNorm(x, w.ln1, prefix + "ln");
    Value attention = buildAttention(h, w, prefix);
    Value mlp = buildMlp(h, w, prefix);
    Value branches =
        AddOp::create(builder, named(prefix + "branches"), attention, mlp);
    branches = constrainPartial(branches, prefix + "branches.constraint");
    Value y = AddOp::create(builder, named(prefix + "residual"), x, branches);
    return constrainResidual(y, prefix + "residual.constraint");
  }
  // y = r + MLP(LN(r)) with r = x + attention(LN(x)).
  Value h1 = buildLayerNorm(x, w.ln1, prefix + "ln1");
  Value attention = constrainPartial(buildAttention(h1, w, prefix),
                                     prefix + "attention.constraint");
  Value r = AddOp::create(builder, named(prefix + "attention_residual"), x,
                          attention);
  r = constrainResidual(r, prefix + "attention_residual.constraint");
  Value h2 = buildLayerNorm(r, w.ln2, prefix + "ln2");
  Value mlp =
      constrainPartial(buildMlp(h2, w, prefix), prefix + "mlp.constraint");
  Value y = AddOp::create(builder, named(prefix + "residual"), r, mlp);
  return constrainResidual(y, prefix + "residual.constraint");
}

Value ModelBuilder::inComputeType(Value param, StringRef name) {
  auto type = cast<RankedTensorType>(param.getType());
  if (type.getElementType() == elementType)
    return param;
  return ConvertOp::create(builder, named(name + ".compute"),
                           type.clone(elementType), param);
}

OwningOpRef<ModuleOp> ModelBuilder::build() {
  auto typeOf = [&](DType dtype) {
    return dtype == DType::BF16 ? Type(builder.getBF16Type())
                                : Type(builder.getF32Type());
  };
  elementType = typeOf(config.dtype);
  paramType = typeOf(getParamDType(config));
  OwningOpRef<ModuleOp> module = ModuleOp::create(named(config.name));
  builder.setInsertionPointToStart(module->getBody());
  // Both axes are always declared, so every layout names the same mesh and
  // a size-1 axis costs nothing.
  MeshOp::create(builder, named("mesh"), "mesh",
                 builder.getStrArrayAttr({"data", "model"}),
                 ArrayRef<int64_t>{mesh.data, mesh.model});
  buildSignature(*module);

  Value x = EmbeddingOp::create(builder, named("embedding"), embedding, tokens);
  x = constrainResidual(x, "embedding.constraint");
  for (auto [layer, weights] : llvm::enumerate(layers))
    x = buildLayer(x, weights, layer);
  Value normed = buildLayerNorm(x, finalNorm, "final_ln");
  // Tied embedding: contract d_model with the table's second dimension.
  Value logits = buildDot(normed, embedding, {2}, {1}, "logits");
  float factor = static_cast<float>(1.0 / std::sqrt(double(config.dModel)));
  logits = ScaleOp::create(builder, named("logits.scale"), logits,
                           builder.getF32FloatAttr(factor));
  Value loss = CrossEntropyOp::create(builder, named("loss"), logits, targets,
                                      static_cast<float>(config.zLoss));
  SmallVector<Value> results = {loss};
  if (returnLogits)
    results.push_back(logits);
  func::ReturnOp::create(builder, named("loss"), results);

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> mlir::palm::gen::buildModel(MLIRContext &context,
                                                  const ModelConfig &config,
                                                  Layout layout,
                                                  MeshShape mesh,
                                                  bool returnLogits) {
  return ModelBuilder(context, config, layout, mesh, returnLogits).build();
}

void mlir::palm::gen::printModel(ModuleOp module, llvm::raw_ostream &os) {
  // Locations are printed inline (local scope, no #loc aliases) so that a
  // reader and FileCheck see each op's name on its own line.
  OpPrintingFlags flags;
  flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false)
      .useLocalScope()
      .assumeVerified();
  module->print(os, flags);
  os << "\n";
}

llvm::Error mlir::palm::gen::emitModel(
    const ModelConfig &config, Layout layout, MeshShape mesh,
    llvm::raw_ostream &os, bool returnLogits,
    const std::optional<TrainOptions> &train) {
  // One function and a short pass pipeline: a thread pool would only add
  // start-up time.
  MLIRContext context(MLIRContext::Threading::DISABLED);
  context.loadDialect<PalmDialect, func::FuncDialect>();
  // The IR has no source text: its locations are op names.
  llvm::SourceMgr noSource;
  ScopedDiagnosticPrinter diagnostics(noSource, &context, "palm-gen");
  // With micro-batches the forward (and its backward) is one micro-batch's;
  // -palm-accumulate-gradients repeats it for the others.
  ModelConfig built = config;
  if (train)
    built.batch = config.batch / train->microbatches;
  OwningOpRef<ModuleOp> module =
      buildModel(context, built, layout, mesh, returnLogits);
  if (!module)
    return makeGenError("internal error: the generated IR does not verify "
                        "(diagnostics above)");
  if (train) {
    PassManager pm(&context);
    std::unique_ptr<Pass> passes[] = {createPalmAutodiff(),
                                      createPalmAccumulateGradients(),
                                      createPalmOptimizer()};
    std::string accumulateOptions =
        "microbatches=" + std::to_string(train->microbatches);
    const std::string *options[] = {&train->autodiffOptions,
                                    &accumulateOptions,
                                    &train->optimizerOptions};
    for (auto [pass, text] : llvm::zip(passes, options)) {
      std::string why;
      if (failed(pass->initializeOptions(*text, [&](const Twine &message) {
            why = message.str();
            return failure();
          })))
        return makeGenError("invalid options '" + *text + "' of -" +
                            pass->getArgument() + ": " + why);
      pm.addPass(std::move(pass));
    }
    if (failed(pm.run(*module)))
      return makeGenError("cannot build the training step (diagnostics "
                          "above)");
  }
  printModel(*module, os);
  return llvm::Error::success();
}
