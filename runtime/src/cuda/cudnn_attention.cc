//===- cudnn_attention.cc - attention on cuDNN's fused kernels ------------===//
//
// The graphs are the ones cuDNN's runtime fusion engines recognize as
// scaled dot-product attention: node for node what cudnn-frontend 1.8's
// SDPA nodes build (forward with statistics; the deterministic backward),
// over palmrt's layout. A tensor [b, s, h, d] is described with the logical
// dimensions [b, h, s, d] and strides [s h d, d, h d, 1], so no transpose
// of Q, K, V or their gradients is ever materialized; K^T is K described
// as [b, g, d, t] with strides [t g d, d, 1, g d]. The statistics are
// packed [b, h, s] (cuDNN before 9.26 ignores other strides for them in the
// backward), so palmrt's lse [b, s, h] is transposed on the way in and out.
//
// cuDNN's support and known bugs (docs/runtime.md): 9.10.0 and 9.10.1 are
// refused; on sm_80 heads are at most 128 and the backward runs on
// palmrt's kernels (cuDNN's deterministic backward is for sm_90); up to
// 9.15.0 the backward needs t a multiple of 128.
//
//===----------------------------------------------------------------------===//

#include "cuda/cudnn_attention.h"

#include "absl/strings/str_cat.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace palmrt {

DnnDescriptor::~DnnDescriptor() {
  if (d)
    dnn->BackendDestroyDescriptor(d);
}

namespace {

// Unique ids of the tensors bound at execution (the variant pack); virtual
// tensors get ids from kFirstVirtualUid on.
enum Uid : int64_t {
  kQ = 1,
  kK,
  kV,
  kO,
  kStats,
  kScale,
  kDO,
  kDQ,
  kDK,
  kDV,
  kFill,
  kOne,
  kSoftmaxSum,
  kFirstVirtualUid = 100,
};

/// The by-value scalars of a call, in host memory aligned as the tensors
/// declare (16 bytes); cuDNN reads them when the call is enqueued.
struct Scalars {
  Scalars(float scale, size_t version) : scale(scale) {
    // cuDNN before 9.10 wants the lowest finite value.
    if (version < 91000)
      fill = std::numeric_limits<float>::lowest();
  }
  alignas(16) float scale;
  alignas(16) float fill = -std::numeric_limits<float>::infinity();
  alignas(16) float one = 1.0f;
};

/// Builds descriptors into an SdpaGraph, keeping the first failure.
class Builder {
public:
  Builder(const Cudnn &dnn, SdpaGraph &out) : dnn(dnn), out(out) {}

  dnn::Descriptor make(int type) {
    dnn::Descriptor d = nullptr;
    if (!failure.ok())
      return nullptr;
    check(dnn.BackendCreateDescriptor(type, &d), "create", type);
    if (d)
      out.owned.emplace_back(dnn, d);
    return d;
  }

  void set(dnn::Descriptor d, int name, int type, int64_t count,
           const void *values) {
    if (failure.ok() && d)
      check(dnn.BackendSetAttribute(d, name, type, count, values),
            "set attribute", name);
  }
  void setInt64(dnn::Descriptor d, int name, int64_t v) {
    set(d, name, dnn::kTypeInt64, 1, &v);
  }
  void setEnum(dnn::Descriptor d, int name, int type, int32_t v) {
    set(d, name, type, 1, &v);
  }
  void setDesc(dnn::Descriptor d, int name, dnn::Descriptor v) {
    set(d, name, dnn::kTypeDescriptor, 1, &v);
  }

  dnn::Descriptor finalize(dnn::Descriptor d, int type) {
    if (failure.ok() && d)
      check(dnn.BackendFinalize(d), "finalize", type);
    return d;
  }

  /// A 4-D tensor; virtual ones get fresh ids.
  dnn::Descriptor tensor(int64_t uid, const std::vector<int64_t> &dims,
                         const std::vector<int64_t> &strides, int32_t type,
                         bool isVirtual = false, bool byValue = false) {
    dnn::Descriptor t = make(dnn::kTensorDesc);
    setEnum(t, dnn::kAttrTensorDataType, dnn::kTypeDataType, type);
    set(t, dnn::kAttrTensorDims, dnn::kTypeInt64,
        static_cast<int64_t>(dims.size()), dims.data());
    set(t, dnn::kAttrTensorStrides, dnn::kTypeInt64,
        static_cast<int64_t>(strides.size()), strides.data());
    setInt64(t, dnn::kAttrTensorUid, isVirtual ? nextVirtual++ : uid);
    setInt64(t, dnn::kAttrTensorAlignment, 16);
    bool v = isVirtual, bv = byValue;
    set(t, dnn::kAttrTensorVirtual, dnn::kTypeBoolean, 1, &v);
    if (byValue)
      set(t, dnn::kAttrTensorByValue, dnn::kTypeBoolean, 1, &bv);
    return finalize(t, dnn::kTensorDesc);
  }

  /// A virtual tensor of `dims` (f32 unless said), packed row-major.
  dnn::Descriptor scratch(const std::vector<int64_t> &dims,
                          int32_t type = dnn::kFloat) {
    return tensor(0, dims, packed(dims), type, /*isVirtual=*/true);
  }

  /// A by-value f32 scalar (host memory at execution).
  dnn::Descriptor scalar(int64_t uid) {
    return tensor(uid, {1, 1, 1, 1}, {1, 1, 1, 1}, dnn::kFloat, false,
                  /*byValue=*/true);
  }

  static std::vector<int64_t> packed(const std::vector<int64_t> &dims) {
    std::vector<int64_t> strides(dims.size(), 1);
    for (size_t i = dims.size() - 1; i-- > 0;)
      strides[i] = strides[i + 1] * dims[i + 1];
    return strides;
  }

  dnn::Descriptor matmul(dnn::Descriptor a, dnn::Descriptor b,
                         dnn::Descriptor c) {
    dnn::Descriptor desc = make(dnn::kMatmulDesc);
    setEnum(desc, dnn::kAttrMatmulCompType, dnn::kTypeDataType, dnn::kFloat);
    finalize(desc, dnn::kMatmulDesc);
    dnn::Descriptor op = make(dnn::kMatmulOpDesc);
    setDesc(op, dnn::kAttrMatmulOpA, a);
    setDesc(op, dnn::kAttrMatmulOpB, b);
    setDesc(op, dnn::kAttrMatmulOpC, c);
    setDesc(op, dnn::kAttrMatmulOpDesc, desc);
    return operation(op, dnn::kMatmulOpDesc);
  }

  /// y = mode(x[, b]) (or t ? x : b for BINARY_SELECT) computed in
  /// `precision`; `axis` for GEN_INDEX.
  dnn::Descriptor pointwise(int mode, dnn::Descriptor x, dnn::Descriptor b,
                            dnn::Descriptor y, dnn::Descriptor t = nullptr,
                            int32_t precision = dnn::kFloat,
                            int64_t axis = -1) {
    dnn::Descriptor desc = make(dnn::kPointwiseDesc);
    setEnum(desc, dnn::kAttrPointwiseMode, dnn::kTypePointwiseMode, mode);
    setEnum(desc, dnn::kAttrPointwiseMathPrec, dnn::kTypeDataType, precision);
    if (axis >= 0)
      setInt64(desc, dnn::kAttrPointwiseAxis, axis);
    finalize(desc, dnn::kPointwiseDesc);
    dnn::Descriptor op = make(dnn::kPointwiseOpDesc);
    setDesc(op, dnn::kAttrPointwiseOpDesc, desc);
    setDesc(op, dnn::kAttrPointwiseOpX, x);
    if (b)
      setDesc(op, dnn::kAttrPointwiseOpB, b);
    if (t)
      setDesc(op, dnn::kAttrPointwiseOpT, t);
    setDesc(op, dnn::kAttrPointwiseOpY, y);
    float alpha = 1.0f;
    set(op, dnn::kAttrPointwiseOpAlpha1, dnn::kTypeFloat, 1, &alpha);
    set(op, dnn::kAttrPointwiseOpAlpha2, dnn::kTypeFloat, 1, &alpha);
    return operation(op, dnn::kPointwiseOpDesc);
  }

  /// y: the memory x describes, read through y's dimensions and strides (a
  /// transpose that is never materialized).
  dnn::Descriptor reshape(dnn::Descriptor x, dnn::Descriptor y) {
    dnn::Descriptor op = make(dnn::kReshapeOpDesc);
    setDesc(op, dnn::kAttrReshapeOpX, x);
    setDesc(op, dnn::kAttrReshapeOpY, y);
    return operation(op, dnn::kReshapeOpDesc);
  }

  dnn::Descriptor reduction(int mode, dnn::Descriptor x, dnn::Descriptor y) {
    dnn::Descriptor desc = make(dnn::kReductionDesc);
    setEnum(desc, dnn::kAttrReductionOperator, dnn::kTypeReductionOperator,
            mode);
    setEnum(desc, dnn::kAttrReductionCompType, dnn::kTypeDataType, dnn::kFloat);
    finalize(desc, dnn::kReductionDesc);
    dnn::Descriptor op = make(dnn::kReductionOpDesc);
    setDesc(op, dnn::kAttrReductionOpX, x);
    setDesc(op, dnn::kAttrReductionOpY, y);
    setDesc(op, dnn::kAttrReductionOpDesc, desc);
    return operation(op, dnn::kReductionOpDesc);
  }

  /// Finalizes the graph of every operation made so far (with the handle
  /// unless null: cuDNN before 9.8 needs it).
  absl::StatusOr<SdpaGraph> finish(dnn::Handle handle) {
    dnn::Descriptor graph = make(dnn::kOperationGraphDesc);
    if (handle)
      set(graph, dnn::kAttrGraphHandle, dnn::kTypeHandle, 1, &handle);
    set(graph, dnn::kAttrGraphOps, dnn::kTypeDescriptor,
        static_cast<int64_t>(ops.size()), ops.data());
    finalize(graph, dnn::kOperationGraphDesc);
    if (!failure.ok())
      return failure;
    out.graph = graph;
    return std::move(out);
  }

private:
  dnn::Descriptor operation(dnn::Descriptor op, int type) {
    finalize(op, type);
    ops.push_back(op);
    return op;
  }

  void check(dnn::Status status, const char *what, int which) {
    if (status != dnn::kSuccess && failure.ok())
      failure = absl::UnavailableError(
          absl::StrCat("cuDNN: ", what, " (", which,
                       ") failed: ", dnn.statusString(status)));
  }

  const Cudnn &dnn;
  SdpaGraph &out;
  absl::Status failure;
  std::vector<dnn::Descriptor> ops;
  int64_t nextVirtual = kFirstVirtualUid;
};

/// [b, heads, rows, d] over palmrt's [b, rows, heads, d].
std::vector<int64_t> rowsStrides(int64_t heads, int64_t rows, int64_t d) {
  return {rows * heads * d, d, heads * d, 1};
}
/// The transpose [b, heads, d, rows] of the same memory.
std::vector<int64_t> transposedStrides(int64_t heads, int64_t rows, int64_t d) {
  return {rows * heads * d, d, 1, heads * d};
}

/// The tensors both directions read.
struct Inputs {
  dnn::Descriptor q, kT, scale;
};

Inputs inputs(Builder &g, const SdpaShape &p) {
  Inputs in;
  in.q = g.tensor(kQ, {p.b, p.h, p.s, p.d}, rowsStrides(p.h, p.s, p.d),
                  dnn::kBf16);
  in.kT = g.tensor(kK, {p.b, p.g, p.d, p.t}, transposedStrides(p.g, p.t, p.d),
                   dnn::kBf16);
  in.scale = g.scalar(kScale);
  return in;
}

/// The scaled, masked scores [b, h, s, t] (virtual, f32) of Q and K.
dnn::Descriptor scores(Builder &g, const SdpaShape &p, const Inputs &in) {
  std::vector<int64_t> sDims = {p.b, p.h, p.s, p.t};
  dnn::Descriptor raw = g.scratch(sDims);
  g.matmul(in.q, in.kT, raw);
  dnn::Descriptor scaled = g.scratch(sDims);
  g.pointwise(dnn::kMul, raw, in.scale, scaled);
  if (!p.causal)
    return scaled;
  // Query row r sees keys c <= r: keep where row >= column.
  dnn::Descriptor row = g.scratch(sDims, dnn::kInt32);
  g.pointwise(dnn::kGenIndex, scaled, nullptr, row, nullptr, dnn::kInt32,
              /*axis=*/2);
  dnn::Descriptor column = g.scratch(sDims, dnn::kInt32);
  g.pointwise(dnn::kGenIndex, scaled, nullptr, column, nullptr, dnn::kInt32,
              /*axis=*/3);
  dnn::Descriptor keep = g.scratch(sDims, dnn::kBoolean);
  g.pointwise(dnn::kCmpGe, row, column, keep, nullptr, dnn::kBoolean);
  dnn::Descriptor masked = g.scratch(sDims);
  g.pointwise(dnn::kBinarySelect, scaled, g.scalar(kFill), masked, keep);
  return masked;
}

/// The statistics: packed [b, h, s, 1] f32.
dnn::Descriptor statistics(Builder &g, const SdpaShape &p) {
  return g.tensor(kStats, {p.b, p.h, p.s, 1}, {p.h * p.s, p.s, 1, 1},
                  dnn::kFloat);
}

} // namespace

absl::StatusOr<SdpaGraph> buildSdpaForward(const Cudnn &dnn, const SdpaShape &p,
                                           dnn::Handle handle) {
  SdpaGraph out;
  Builder g(dnn, out);
  Inputs in = inputs(g, p);
  dnn::Descriptor v = g.tensor(kV, {p.b, p.g, p.t, p.d},
                               rowsStrides(p.g, p.t, p.d), dnn::kBf16);
  dnn::Descriptor o = g.tensor(kO, {p.b, p.h, p.s, p.d},
                               rowsStrides(p.h, p.s, p.d), dnn::kBf16);
  dnn::Descriptor s = scores(g, p, in);
  // Softmax with its statistics: m = max S, e = exp(S - m), l = sum e,
  // stats = m + log l, P = e / l (rounded to bf16 for P V).
  std::vector<int64_t> rowDims = {p.b, p.h, p.s, 1};
  std::vector<int64_t> sDims = {p.b, p.h, p.s, p.t};
  dnn::Descriptor max = g.scratch(rowDims);
  g.reduction(dnn::kReduceMax, s, max);
  dnn::Descriptor shifted = g.scratch(sDims);
  g.pointwise(dnn::kSub, s, max, shifted);
  dnn::Descriptor e = g.scratch(sDims);
  g.pointwise(dnn::kExp, shifted, nullptr, e);
  dnn::Descriptor sum = g.scratch(rowDims);
  g.reduction(dnn::kReduceAdd, e, sum);
  dnn::Descriptor logSum = g.scratch(rowDims);
  g.pointwise(dnn::kLog, sum, nullptr, logSum);
  g.pointwise(dnn::kAdd, max, logSum, statistics(g, p));
  dnn::Descriptor probs = g.scratch(sDims, dnn::kBf16);
  g.pointwise(dnn::kDiv, e, sum, probs);
  g.matmul(probs, v, o);
  return g.finish(handle);
}

absl::StatusOr<SdpaGraph>
buildSdpaBackward(const Cudnn &dnn, const SdpaShape &p, dnn::Handle handle) {
  SdpaGraph out;
  Builder g(dnn, out);
  std::vector<int64_t> qDims = {p.b, p.h, p.s, p.d};
  std::vector<int64_t> kvDims = {p.b, p.g, p.t, p.d};
  std::vector<int64_t> rowDims = {p.b, p.h, p.s, 1};
  std::vector<int64_t> sDims = {p.b, p.h, p.s, p.t};
  std::vector<int64_t> sTDims = {p.b, p.h, p.t, p.s};
  std::vector<int64_t> sTStrides = {p.h * p.s * p.t, p.s * p.t, 1, p.t};
  std::vector<int64_t> qStrides = rowsStrides(p.h, p.s, p.d);
  std::vector<int64_t> kvStrides = rowsStrides(p.g, p.t, p.d);
  Inputs in = inputs(g, p);
  dnn::Descriptor vT = g.tensor(kV, {p.b, p.g, p.d, p.t},
                                transposedStrides(p.g, p.t, p.d), dnn::kBf16);
  dnn::Descriptor o = g.tensor(kO, qDims, qStrides, dnn::kBf16);
  dnn::Descriptor dO = g.tensor(kDO, qDims, qStrides, dnn::kBf16);
  dnn::Descriptor stats = statistics(g, p);
  dnn::Descriptor one = g.scalar(kOne);

  // D = rowsum(dO * O), kept in a buffer of the call's.
  dnn::Descriptor dOO = g.scratch(qDims);
  g.pointwise(dnn::kMul, dO, o, dOO);
  dnn::Descriptor rowSum = g.scratch(rowDims);
  g.reduction(dnn::kReduceAdd, dOO, rowSum);
  dnn::Descriptor softmaxSum =
      g.tensor(kSoftmaxSum, rowDims, Builder::packed(rowDims), dnn::kFloat);
  g.pointwise(dnn::kMul, rowSum, one, softmaxSum);

  // P = exp(S - stats), recomputed.
  dnn::Descriptor s = scores(g, p, in);
  dnn::Descriptor shifted = g.scratch(sDims);
  g.pointwise(dnn::kSub, s, stats, shifted);
  dnn::Descriptor probs = g.scratch(sDims);
  g.pointwise(dnn::kExp, shifted, nullptr, probs);

  // dV = P^T dO, summed over the query heads of each key/value head.
  auto headSum = [&](dnn::Descriptor a, dnn::Descriptor b, int64_t uid) {
    dnn::Descriptor result = g.tensor(uid, kvDims, kvStrides, dnn::kBf16);
    if (p.g == p.h) {
      g.matmul(a, b, result);
      return;
    }
    dnn::Descriptor full =
        g.tensor(0, {p.b, p.h, p.t, p.d}, Builder::packed({p.b, p.h, p.t, p.d}),
                 dnn::kBf16, /*isVirtual=*/true);
    g.matmul(a, b, full);
    g.reduction(dnn::kReduceAdd, full, result);
  };
  dnn::Descriptor probsT =
      g.tensor(0, sTDims, sTStrides, dnn::kBf16, /*isVirtual=*/true);
  g.reshape(probs, probsT);
  headSum(probsT, dO, kDV);

  // dS = P (dO V^T - D) scale.
  dnn::Descriptor dP = g.scratch(sDims);
  g.matmul(dO, vT, dP);
  dnn::Descriptor dP1 = g.scratch(sDims);
  g.pointwise(dnn::kMul, dP, one, dP1);
  dnn::Descriptor dP2 = g.scratch(sDims);
  g.pointwise(dnn::kSub, dP1, softmaxSum, dP2);
  dnn::Descriptor dS0 = g.scratch(sDims);
  g.pointwise(dnn::kMul, dP2, probs, dS0);
  dnn::Descriptor dS = g.scratch(sDims);
  g.pointwise(dnn::kMul, dS0, in.scale, dS);

  // dK = dS^T Q, summed over the query heads of each key/value head.
  dnn::Descriptor dST =
      g.tensor(0, sTDims, sTStrides, dnn::kBf16, /*isVirtual=*/true);
  g.reshape(dS, dST);
  headSum(dST, in.q, kDK);

  // dQ = dS K, written directly (the deterministic form).
  dnn::Descriptor k = g.tensor(0, kvDims, kvStrides, dnn::kFloat,
                               /*isVirtual=*/true);
  g.reshape(in.kT, k);
  dnn::Descriptor dQ = g.tensor(kDQ, qDims, qStrides, dnn::kBf16);
  g.matmul(dS, k, dQ);
  return g.finish(handle);
}

//===----------------------------------------------------------------------===//
// Eligibility
//===----------------------------------------------------------------------===//

namespace {

std::string commonUnsupported(int32_t dtype, int64_t h, int64_t g, int64_t dk,
                              int64_t dv, int64_t headOffset,
                              int64_t headsPerGroup, int64_t globalHeads,
                              int64_t queryOffset, int64_t s, int64_t t,
                              int32_t causal,
                              std::initializer_list<const void *> pointers) {
  if (dtype != 1)
    return "not bf16";
  if (dk != dv || dk % 8 != 0 || dk > 256)
    return absl::StrCat("head sizes ", dk, " and ", dv,
                        " (cuDNN needs equal multiples of 8 up to 256)");
  if (g <= 0 || h % g != 0)
    return absl::StrCat(h, " query heads over ", g, " key/value heads");
  if (headOffset + h > globalHeads)
    return "padding heads";
  // cuDNN reads key/value head i / (h / g) for local head i.
  for (int64_t i = 0; i < h; ++i)
    if ((headOffset + i) / headsPerGroup != i / (h / g))
      return "a head-to-key/value-head mapping cuDNN does not group";
  if (queryOffset != 0 || (causal && s != t))
    return "a shard of the queries (query offset or s != t under the mask)";
  for (const void *p : pointers)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
      return "a tensor not 16-byte aligned";
  return "";
}

} // namespace

std::string cudnnUnsupported(const AttentionArgs &a) {
  return commonUnsupported(a.dtype, a.h, a.g, a.dk, a.dv, a.headOffset,
                           a.headsPerGroup, a.globalHeads, a.queryOffset, a.s,
                           a.t, a.causal, {a.q, a.k, a.v, a.out});
}

std::string cudnnUnsupported(const AttentionGradArgs &a) {
  return commonUnsupported(a.dtype, a.h, a.g, a.dkSize, a.dvSize, a.headOffset,
                           a.headsPerGroup, a.globalHeads, a.queryOffset, a.s,
                           a.t, a.causal,
                           {a.q, a.k, a.v, a.out, a.dout, a.dq, a.dk, a.dv});
}

//===----------------------------------------------------------------------===//
// Plans and execution
//===----------------------------------------------------------------------===//

absl::StatusOr<std::unique_ptr<CudnnAttention>>
CudnnAttention::create(const Cudnn &dnn, cu::Stream stream, int smMajor,
                       CudnnServices services) {
  std::unique_ptr<CudnnAttention> a(
      new CudnnAttention(dnn, smMajor, std::move(services)));
  if (dnn::Status s = dnn.Create(&a->handle); s != dnn::kSuccess) {
    a->handle = nullptr;
    return absl::UnavailableError(
        absl::StrCat("cudnnCreate failed: ", dnn.statusString(s)));
  }
  if (dnn::Status s = dnn.SetStream(a->handle, stream); s != dnn::kSuccess)
    return absl::UnavailableError(
        absl::StrCat("cudnnSetStream failed: ", dnn.statusString(s)));
  return a;
}

CudnnAttention::~CudnnAttention() {
  plans.clear();
  if (handle)
    dnn.Destroy(handle);
}

std::string CudnnAttention::version() const {
  size_t v = dnn.GetVersion();
  return absl::StrCat("cuDNN ", v / 10000, ".", v / 100 % 100, ".", v % 100);
}

std::string CudnnAttention::declines(bool backward, const SdpaShape &p) const {
  size_t v = dnn.GetVersion();
  if (v == 91000 || v == 91001)
    return "cuDNN 9.10.0 and 9.10.1 have known attention bugs";
  if (smMajor < 9 && p.d > 128)
    return "heads over 128 need sm_90";
  if (!backward)
    return "";
  // cuDNN's deterministic backward is documented for sm_90 only, and
  // palmrt_attention_grad promises bitwise reproducible results.
  if (smMajor != 9)
    return "cuDNN's deterministic attention backward needs sm_90";
  if (v < 90500 && p.d > 128)
    return "backward heads over 128 need cuDNN 9.5";
  if (v <= 91500 && p.t % 128 != 0)
    return "the backward needs t a multiple of 128 up to cuDNN 9.15.0";
  if (p.s == 1 && p.t == 1)
    return "a backward of one position";
  return "";
}

absl::StatusOr<CudnnAttention::Plan>
CudnnAttention::makePlan(bool backward, const SdpaShape &shape) {
  Plan plan;
  if (std::string why = declines(backward, shape); !why.empty())
    return absl::UnavailableError(why);
  absl::StatusOr<SdpaGraph> graph = backward
                                        ? buildSdpaBackward(dnn, shape, handle)
                                        : buildSdpaForward(dnn, shape, handle);
  if (!graph.ok())
    return graph.status();
  plan.graph = std::move(*graph);
  auto make = [&](int type) -> dnn::Descriptor {
    dnn::Descriptor d = nullptr;
    if (dnn.BackendCreateDescriptor(type, &d) != dnn::kSuccess)
      return nullptr;
    plan.owned.emplace_back(dnn, d);
    return d;
  };
  // The heuristics' engine configurations for `mode`, best first.
  auto configsFor = [&](int32_t mode) {
    std::vector<dnn::Descriptor> configs;
    dnn::Descriptor heur = make(dnn::kEngineHeurDesc);
    if (!heur)
      return configs;
    dnn.BackendSetAttribute(heur, dnn::kAttrHeurGraph, dnn::kTypeDescriptor, 1,
                            &plan.graph.graph);
    dnn.BackendSetAttribute(heur, dnn::kAttrHeurMode, dnn::kTypeHeurMode, 1,
                            &mode);
    int64_t count = 0;
    if (dnn.BackendFinalize(heur) != dnn::kSuccess ||
        dnn.BackendGetAttribute(heur, dnn::kAttrHeurResults,
                                dnn::kTypeDescriptor, 0, &count,
                                nullptr) != dnn::kSuccess)
      return configs;
    for (int64_t i = 0; i < count; ++i)
      if (dnn::Descriptor c = make(dnn::kEngineCfgDesc))
        configs.push_back(c);
    if (dnn.BackendGetAttribute(heur, dnn::kAttrHeurResults,
                                dnn::kTypeDescriptor,
                                static_cast<int64_t>(configs.size()), &count,
                                configs.data()) != dnn::kSuccess)
      return std::vector<dnn::Descriptor>();
    configs.resize(
        std::min<size_t>(configs.size(), std::max<int64_t>(count, 0)));
    return configs;
  };
  // Whether the configuration's engine says it is nondeterministic: the
  // backward must not be, as palmrt_attention_grad is bitwise
  // reproducible.
  auto nondeterministic = [&](dnn::Descriptor config) {
    dnn::Descriptor engine = make(dnn::kEngineDesc);
    int64_t got = 0;
    int32_t notes[16] = {0};
    if (!engine ||
        dnn.BackendGetAttribute(config, dnn::kAttrCfgEngine,
                                dnn::kTypeDescriptor, 1, &got,
                                &engine) != dnn::kSuccess ||
        dnn.BackendGetAttribute(engine, dnn::kAttrEngineNumericalNote,
                                dnn::kTypeNumericalNote, 16, &got,
                                notes) != dnn::kSuccess)
      return false;
    for (int64_t n = 0; n < got && n < 16; ++n)
      if (notes[n] == dnn::kNoteNondeterministic)
        return true;
    return false;
  };
  // The first configuration that makes a plan: mode A's, then the
  // fallback list's.
  std::string last = "cuDNN has no engine for the graph";
  for (int32_t mode : {dnn::kHeurModeA, dnn::kHeurModeFallback}) {
    for (dnn::Descriptor config : configsFor(mode)) {
      if (backward && nondeterministic(config)) {
        last = "its engines are nondeterministic";
        continue;
      }
      dnn::Descriptor p = make(dnn::kExecutionPlanDesc);
      if (!p)
        continue;
      dnn.BackendSetAttribute(p, dnn::kAttrPlanHandle, dnn::kTypeHandle, 1,
                              &handle);
      dnn.BackendSetAttribute(p, dnn::kAttrPlanConfig, dnn::kTypeDescriptor, 1,
                              &config);
      if (dnn::Status s = dnn.BackendFinalize(p); s != dnn::kSuccess) {
        last = dnn.statusString(s);
        continue;
      }
      int64_t bytes = 0, got = 0;
      if (dnn.BackendGetAttribute(p, dnn::kAttrPlanWorkspaceSize,
                                  dnn::kTypeInt64, 1, &got,
                                  &bytes) != dnn::kSuccess)
        continue;
      plan.plan = p;
      plan.workspaceBytes = bytes;
      return plan;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("cuDNN built no execution plan for the ",
                   backward ? "backward" : "forward", " graph: ", last));
}

absl::StatusOr<CudnnAttention::Plan *>
CudnnAttention::plan(bool backward, const SdpaShape &shape) {
  auto key = std::make_pair(backward, shape);
  auto it = plans.find(key);
  if (it == plans.end())
    it = plans.emplace(key, makePlan(backward, shape)).first;
  if (!it->second.ok())
    return it->second.status();
  return &*it->second;
}

std::vector<char *> CudnnAttention::carve(const Plan &p, int rowBuffers,
                                          int64_t rows) {
  auto rounded = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  int64_t rowBytes = rounded(std::max<int64_t>(rows, 1) * 4);
  int64_t first = rounded(std::max<int64_t>(p.workspaceBytes, 1));
  char *base =
      static_cast<char *>(services.workspace(first + rowBuffers * rowBytes));
  std::vector<char *> parts = {base};
  for (int i = 0; i < rowBuffers; ++i)
    parts.push_back(base + first + i * rowBytes);
  return parts;
}

absl::Status CudnnAttention::execute(Plan &p, const std::vector<int64_t> &uids,
                                     const std::vector<void *> &pointers,
                                     void *space) {
  dnn::Descriptor pack = nullptr;
  if (dnn.BackendCreateDescriptor(dnn::kVariantPackDesc, &pack) !=
      dnn::kSuccess)
    return absl::InternalError("cuDNN: cannot create a variant pack");
  DnnDescriptor owner(dnn, pack);
  dnn.BackendSetAttribute(pack, dnn::kAttrPackUids, dnn::kTypeInt64,
                          static_cast<int64_t>(uids.size()), uids.data());
  dnn.BackendSetAttribute(pack, dnn::kAttrPackPointers, dnn::kTypeVoidPtr,
                          static_cast<int64_t>(pointers.size()),
                          pointers.data());
  dnn.BackendSetAttribute(pack, dnn::kAttrPackWorkspace, dnn::kTypeVoidPtr, 1,
                          &space);
  if (dnn::Status s = dnn.BackendFinalize(pack); s != dnn::kSuccess)
    return absl::InternalError(
        absl::StrCat("cuDNN: variant pack: ", dnn.statusString(s)));
  if (dnn::Status s = dnn.BackendExecute(handle, p.plan, pack);
      s != dnn::kSuccess)
    return absl::InternalError(
        absl::StrCat("cuDNN: execute: ", dnn.statusString(s)));
  return absl::OkStatus();
}

absl::Status CudnnAttention::forward(const AttentionArgs &a) {
  SdpaShape shape{a.b, a.s, a.t, a.h, a.g, a.dk, a.causal != 0};
  absl::StatusOr<Plan *> p = plan(false, shape);
  if (!p.ok())
    return p.status();
  int64_t rows = a.b * a.h * a.s;
  std::vector<char *> space = carve(**p, 1, rows);
  float *stats = reinterpret_cast<float *>(space[1]);
  Scalars scalars(a.scale, dnn.GetVersion());
  // The statistics go to scratch, then to lse when the call wants them.
  std::vector<int64_t> uids = {kQ, kK, kV, kO, kScale, kStats};
  std::vector<void *> pointers = {
      const_cast<void *>(a.q), const_cast<void *>(a.k),
      const_cast<void *>(a.v), a.out,
      &scalars.scale,          stats};
  if (a.causal) {
    uids.push_back(kFill);
    pointers.push_back(&scalars.fill);
  }
  if (absl::Status s = execute(**p, uids, pointers, space[0]); !s.ok())
    return s;
  // [b, h, s] -> palmrt's [b, s, h].
  if (a.lse)
    services.transpose(stats, a.lse, a.b, a.h, a.s);
  return absl::OkStatus();
}

absl::Status CudnnAttention::backward(const AttentionGradArgs &a) {
  SdpaShape shape{a.b, a.s, a.t, a.h, a.g, a.dkSize, a.causal != 0};
  absl::StatusOr<Plan *> p = plan(true, shape);
  if (!p.ok())
    return p.status();
  int64_t rows = a.b * a.h * a.s;
  std::vector<char *> space = carve(**p, 2, rows);
  float *stats = reinterpret_cast<float *>(space[1]);
  // palmrt's lse [b, s, h] -> [b, h, s].
  services.transpose(a.lse, stats, a.b, a.s, a.h);
  Scalars scalars(a.scale, dnn.GetVersion());
  std::vector<int64_t> uids = {kQ,     kK,   kV,  kO,  kDO, kStats,
                               kScale, kOne, kDQ, kDK, kDV, kSoftmaxSum};
  std::vector<void *> pointers = {const_cast<void *>(a.q),
                                  const_cast<void *>(a.k),
                                  const_cast<void *>(a.v),
                                  const_cast<void *>(a.out),
                                  const_cast<void *>(a.dout),
                                  stats,
                                  &scalars.scale,
                                  &scalars.one,
                                  a.dq,
                                  a.dk,
                                  a.dv,
                                  space[2]};
  if (a.causal) {
    uids.push_back(kFill);
    pointers.push_back(&scalars.fill);
  }
  return execute(**p, uids, pointers, space[0]);
}

} // namespace palmrt
