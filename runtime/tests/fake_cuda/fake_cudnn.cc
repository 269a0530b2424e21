//===- fake_cudnn.cc - a libcudnn.so.9 on the host, for tests -------------===//
//
// Implements the part of cuDNN 9's backend API that the cuda backend's
// attention uses, with the documented semantics of each operation, so that
// the graphs the backend builds are checked by running them:
//
// - descriptors keep their attributes; cudnnBackendFinalize checks that
//   the ones each type needs are set (and that tensors' dimensions and
//   strides agree), as the real library does;
// - the heuristics offer one engine for any finalized operation graph,
//   deterministic, with a small workspace that execution checks lies in the
//   fake driver's device memory and scribbles over;
// - cudnnBackendExecute interprets the operation graph: operations run in
//   dependency order on dense tensors of doubles; matmuls broadcast batch
//   dimensions of 1 and, for grouped heads, divide (query head i reads
//   key/value head i / (h / g)); pointwise operands broadcast dimensions of
//   1; reductions reduce the dimensions the output has as 1. Every value is
//   rounded to its tensor's data type when it is produced, and non-virtual
//   outputs are stored through their strides.
//
// Like the fake cuBLASLt it is a reference, not a model of cuDNN's speed or
// of its support surface: it accepts any consistent graph of these
// operations.
//
//===----------------------------------------------------------------------===//

#include "base/bf16.h"
#include "fake_device_memory.h"

#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "fake libcudnn: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string lastError;

cudnnStatus_t reject(cudnnStatus_t status, const std::string &why) {
  lastError = why;
  return status;
}

size_t elementBytes(cudnnBackendAttributeType_t type) {
  switch (type) {
  case CUDNN_TYPE_HANDLE:
  case CUDNN_TYPE_INT64:
  case CUDNN_TYPE_DOUBLE:
  case CUDNN_TYPE_VOID_PTR:
  case CUDNN_TYPE_BACKEND_DESCRIPTOR:
    return 8;
  case CUDNN_TYPE_BOOLEAN:
  case CUDNN_TYPE_CHAR:
    return 1;
  default:
    return 4;
  }
}

struct Attribute {
  cudnnBackendAttributeType_t type;
  int64_t count;
  std::vector<char> bytes;
};

struct Descriptor {
  cudnnBackendDescriptorType_t kind;
  std::map<int, Attribute> attributes;
  bool finalized = false;
  // Set by the heuristics on the engine configurations they return.
  Descriptor *graph = nullptr;
};

struct Handle {
  cudaStream_t stream = nullptr;
};

Descriptor *cast(cudnnBackendDescriptor_t d) {
  return static_cast<Descriptor *>(d);
}

const Attribute *find(const Descriptor *d, int name) {
  auto it = d->attributes.find(name);
  return it == d->attributes.end() ? nullptr : &it->second;
}

template <typename T>
std::vector<T> values(const Descriptor *d, int name,
                      cudnnBackendAttributeType_t type) {
  const Attribute *a = find(d, name);
  if (!a)
    return {};
  if (a->type != type || sizeof(T) != elementBytes(type))
    fail("attribute " + std::to_string(name) + " read with another type");
  std::vector<T> out(a->count);
  std::memcpy(out.data(), a->bytes.data(), a->count * sizeof(T));
  return out;
}

template <typename T>
T one(const Descriptor *d, int name, cudnnBackendAttributeType_t type) {
  std::vector<T> v = values<T>(d, name, type);
  if (v.size() != 1)
    fail("attribute " + std::to_string(name) + " is not one value");
  return v[0];
}

Descriptor *descriptor(const Descriptor *d, int name) {
  return one<Descriptor *>(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR);
}

bool has(const Descriptor *d, int name) { return find(d, name) != nullptr; }

/// A CUDNN_TYPE_BOOLEAN attribute (C++ bool), false when not set.
bool flag(const Descriptor *d, int name) {
  const Attribute *a = find(d, name);
  if (!a)
    return false;
  if (a->type != CUDNN_TYPE_BOOLEAN || a->count != 1)
    fail("attribute " + std::to_string(name) + " is not one boolean");
  return a->bytes[0] != 0;
}

//===----------------------------------------------------------------------===//
// Finalize checks
//===----------------------------------------------------------------------===//

/// The attributes each descriptor type must have before it is finalized.
std::string missingAttributes(const Descriptor *d) {
  std::vector<int> needed;
  switch (d->kind) {
  case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
    needed = {CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_ATTR_TENSOR_DIMENSIONS,
              CUDNN_ATTR_TENSOR_STRIDES, CUDNN_ATTR_TENSOR_UNIQUE_ID,
              CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT};
    break;
  case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
    needed = {CUDNN_ATTR_POINTWISE_MODE, CUDNN_ATTR_POINTWISE_MATH_PREC};
    break;
  case CUDNN_BACKEND_MATMUL_DESCRIPTOR:
    needed = {CUDNN_ATTR_MATMUL_COMP_TYPE};
    break;
  case CUDNN_BACKEND_REDUCTION_DESCRIPTOR:
    needed = {CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_ATTR_REDUCTION_COMP_TYPE};
    break;
  case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
    needed = {CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
              CUDNN_ATTR_OPERATION_POINTWISE_YDESC};
    break;
  case CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR:
    needed = {
        CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_ATTR_OPERATION_MATMUL_BDESC,
        CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_ATTR_OPERATION_MATMUL_DESC};
    break;
  case CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR:
    needed = {CUDNN_ATTR_OPERATION_REDUCTION_XDESC,
              CUDNN_ATTR_OPERATION_REDUCTION_YDESC,
              CUDNN_ATTR_OPERATION_REDUCTION_DESC};
    break;
  case CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR:
    needed = {CUDNN_ATTR_OPERATION_RESHAPE_XDESC,
              CUDNN_ATTR_OPERATION_RESHAPE_YDESC};
    break;
  case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
    needed = {CUDNN_ATTR_OPERATIONGRAPH_OPS};
    break;
  case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
    needed = {CUDNN_ATTR_ENGINEHEUR_MODE,
              CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH};
    break;
  case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
    needed = {CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
              CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG};
    break;
  case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
    needed = {CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
              CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
              CUDNN_ATTR_VARIANT_PACK_WORKSPACE};
    break;
  case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR:
  case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
    break;
  default:
    return "a descriptor type the fake does not implement (" +
           std::to_string(d->kind) + ")";
  }
  std::string missing;
  for (int name : needed)
    if (!has(d, name))
      missing += (missing.empty() ? "" : ", ") + std::to_string(name);
  return missing.empty() ? "" : "attributes " + missing + " are not set";
}

/// Every descriptor an operation refers to must be finalized.
std::string unfinalizedReferences(const Descriptor *d) {
  for (const auto &[name, a] : d->attributes) {
    if (a.type != CUDNN_TYPE_BACKEND_DESCRIPTOR)
      continue;
    for (int64_t i = 0; i < a.count; ++i) {
      Descriptor *ref;
      std::memcpy(&ref, a.bytes.data() + i * 8, 8);
      if (!ref || !ref->finalized)
        return "attribute " + std::to_string(name) +
               " refers to a descriptor that is not finalized";
    }
  }
  return "";
}

std::string checkTensor(const Descriptor *d) {
  std::vector<int64_t> dims =
      values<int64_t>(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64);
  std::vector<int64_t> strides =
      values<int64_t>(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64);
  if (dims.size() != strides.size() || dims.empty() || dims.size() > 8)
    return "dimensions and strides differ in count";
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] <= 0 || strides[i] <= 0)
      return "a dimension or stride is not positive";
  return "";
}

//===----------------------------------------------------------------------===//
// The interpreter
//===----------------------------------------------------------------------===//

struct Value {
  std::vector<int64_t> dims;
  std::vector<double> data;
};

int64_t count(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// Row-major index of `index` in dims, with dimensions of 1 (or a divisor
/// of the output's, for grouped heads) broadcast.
int64_t broadcastIndex(const std::vector<int64_t> &dims,
                       const std::vector<int64_t> &outDims,
                       const std::vector<int64_t> &index) {
  int64_t flat = 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t at = index[i];
    if (dims[i] == 1)
      at = 0;
    else if (dims[i] != outDims[i])
      at = index[i] / (outDims[i] / dims[i]);
    flat = flat * dims[i] + at;
  }
  return flat;
}

void checkBroadcast(const std::vector<int64_t> &dims,
                    const std::vector<int64_t> &outDims, const char *what) {
  if (dims.size() != outDims.size())
    fail(std::string(what) + ": operand rank differs from the output's");
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != outDims[i] && dims[i] != 1 && outDims[i] % dims[i] != 0)
      fail(std::string(what) + ": operand dimension " + std::to_string(i) +
           " does not broadcast to the output");
}

void unflatten(int64_t flat, const std::vector<int64_t> &dims,
               std::vector<int64_t> &index) {
  index.resize(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    index[i] = flat % dims[i];
    flat /= dims[i];
  }
}

double roundTo(double v, int64_t type) {
  switch (type) {
  case CUDNN_DATA_FLOAT:
    return static_cast<float>(v);
  case CUDNN_DATA_BFLOAT16:
    return palmrt::bf16ToFloat(palmrt::floatToBf16(static_cast<float>(v)));
  case CUDNN_DATA_BOOLEAN:
    return v != 0 ? 1 : 0;
  case CUDNN_DATA_INT32:
  case CUDNN_DATA_INT64:
    return std::trunc(v);
  default:
    return v;
  }
}

size_t dataBytes(int64_t type) {
  switch (type) {
  case CUDNN_DATA_BFLOAT16:
  case CUDNN_DATA_HALF:
    return 2;
  case CUDNN_DATA_DOUBLE:
  case CUDNN_DATA_INT64:
    return 8;
  case CUDNN_DATA_BOOLEAN:
    return 1;
  default:
    return 4;
  }
}

struct TensorInfo {
  std::vector<int64_t> dims, strides;
  int64_t type, uid, alignment;
  bool isVirtual, byValue;
};

TensorInfo info(const Descriptor *t) {
  if (t->kind != CUDNN_BACKEND_TENSOR_DESCRIPTOR)
    fail("an operand is not a tensor descriptor");
  TensorInfo i;
  i.dims = values<int64_t>(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64);
  i.strides = values<int64_t>(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64);
  i.type = one<int32_t>(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE);
  i.uid = one<int64_t>(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64);
  i.alignment =
      one<int64_t>(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64);
  i.isVirtual = flag(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL);
  i.byValue = flag(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE);
  return i;
}

/// The element offset of `index` through `strides`.
int64_t offsetOf(const std::vector<int64_t> &strides,
                 const std::vector<int64_t> &index) {
  int64_t o = 0;
  for (size_t d = 0; d < index.size(); ++d)
    o += index[d] * strides[d];
  return o;
}

/// Bytes from the first element to one past the last, through strides.
size_t span(const TensorInfo &t) {
  int64_t last = 0;
  for (size_t i = 0; i < t.dims.size(); ++i)
    last += (t.dims[i] - 1) * t.strides[i];
  return (last + 1) * dataBytes(t.type);
}

double loadElement(const char *p, int64_t type) {
  switch (type) {
  case CUDNN_DATA_FLOAT: {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  case CUDNN_DATA_BFLOAT16: {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return palmrt::bf16ToFloat(v);
  }
  case CUDNN_DATA_INT32: {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case CUDNN_DATA_INT64: {
    int64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<double>(v);
  }
  default:
    fail("a tensor of data type " + std::to_string(type) +
         " in the variant pack");
  }
}

void storeElement(char *p, int64_t type, double v) {
  switch (type) {
  case CUDNN_DATA_FLOAT: {
    float f = static_cast<float>(v);
    std::memcpy(p, &f, 4);
    return;
  }
  case CUDNN_DATA_BFLOAT16: {
    uint16_t b = palmrt::floatToBf16(static_cast<float>(v));
    std::memcpy(p, &b, 2);
    return;
  }
  default:
    fail("an output of data type " + std::to_string(type));
  }
}

class Interpreter {
public:
  Interpreter(const Descriptor *graph, const Descriptor *pack) : graph(graph) {
    std::vector<int64_t> uids = values<int64_t>(
        pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64);
    std::vector<void *> pointers = values<void *>(
        pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR);
    if (uids.size() != pointers.size())
      fail("the variant pack has " + std::to_string(uids.size()) + " ids and " +
           std::to_string(pointers.size()) + " pointers");
    for (size_t i = 0; i < uids.size(); ++i)
      bound[uids[i]] = static_cast<char *>(pointers[i]);
  }

  void run() {
    std::vector<Descriptor *> ops = values<Descriptor *>(
        graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR);
    std::vector<bool> done(ops.size(), false);
    for (size_t finished = 0; finished < ops.size();) {
      size_t before = finished;
      for (size_t i = 0; i < ops.size(); ++i)
        if (!done[i] && ready(ops[i])) {
          execute(ops[i]);
          done[i] = true;
          ++finished;
        }
      if (finished == before)
        fail("the operation graph has an input no operation produces, or "
             "a cycle");
    }
  }

private:
  const Descriptor *graph;
  std::map<int64_t, char *> bound;
  std::map<const Descriptor *, Value> values_;

  static std::vector<std::pair<int, bool>> operands(const Descriptor *op) {
    // (attribute, is output)
    switch (op->kind) {
    case CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR:
      return {{CUDNN_ATTR_OPERATION_MATMUL_ADESC, false},
              {CUDNN_ATTR_OPERATION_MATMUL_BDESC, false},
              {CUDNN_ATTR_OPERATION_MATMUL_CDESC, true}};
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
      return {{CUDNN_ATTR_OPERATION_POINTWISE_XDESC, false},
              {CUDNN_ATTR_OPERATION_POINTWISE_BDESC, false},
              {CUDNN_ATTR_OPERATION_POINTWISE_TDESC, false},
              {CUDNN_ATTR_OPERATION_POINTWISE_YDESC, true}};
    case CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR:
      return {{CUDNN_ATTR_OPERATION_REDUCTION_XDESC, false},
              {CUDNN_ATTR_OPERATION_REDUCTION_YDESC, true}};
    case CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR:
      return {{CUDNN_ATTR_OPERATION_RESHAPE_XDESC, false},
              {CUDNN_ATTR_OPERATION_RESHAPE_YDESC, true}};
    default:
      fail("an operation the fake does not implement (" +
           std::to_string(op->kind) + ")");
    }
  }

  bool available(const Descriptor *t) {
    if (values_.count(t))
      return true;
    TensorInfo i = info(t);
    if (i.isVirtual)
      return false;
    values_[t] = load(t, i);
    return true;
  }

  bool ready(const Descriptor *op) {
    // A pointwise GEN_INDEX reads only its input's shape.
    for (auto [name, output] : operands(op))
      if (!output && has(op, name) && !available(descriptor(op, name)))
        return false;
    return true;
  }

  char *pointer(const TensorInfo &i) {
    auto it = bound.find(i.uid);
    if (it == bound.end())
      fail("tensor " + std::to_string(i.uid) +
           " has no pointer in the "
           "variant pack");
    char *p = it->second;
    if (reinterpret_cast<uintptr_t>(p) % i.alignment != 0)
      fail("tensor " + std::to_string(i.uid) + " is not aligned to its " +
           std::to_string(i.alignment) + " bytes");
    if (!i.byValue)
      checkDeviceRange("fake libcudnn", p, span(i),
                       ("tensor " + std::to_string(i.uid)).c_str());
    return p;
  }

  Value load(const Descriptor *, const TensorInfo &i) {
    const char *base = pointer(i);
    Value v{i.dims, std::vector<double>(count(i.dims))};
    std::vector<int64_t> index;
    for (int64_t f = 0; f < count(i.dims); ++f) {
      unflatten(f, i.dims, index);
      v.data[f] = loadElement(
          base + offsetOf(i.strides, index) * dataBytes(i.type), i.type);
    }
    return v;
  }

  void produce(const Descriptor *t, Value v) {
    TensorInfo i = info(t);
    if (v.dims != i.dims)
      fail("an operation's result has other dimensions than its tensor " +
           std::to_string(i.uid));
    for (double &x : v.data)
      x = roundTo(x, i.type);
    if (!i.isVirtual) {
      char *base = pointer(i);
      std::vector<int64_t> index;
      for (int64_t f = 0; f < count(i.dims); ++f) {
        unflatten(f, i.dims, index);
        storeElement(base + offsetOf(i.strides, index) * dataBytes(i.type),
                     i.type, v.data[f]);
      }
    }
    values_[t] = std::move(v);
  }

  void execute(const Descriptor *op) {
    switch (op->kind) {
    case CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR:
      return matmul(op);
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
      return pointwise(op);
    case CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR:
      return reduction(op);
    case CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR:
      return reshape(op);
    default:
      fail("unreachable");
    }
  }

  /// C[..., m, n] = sum_k A[..., m, k] B[..., k, n].
  void matmul(const Descriptor *op) {
    const Value &a =
        values_.at(descriptor(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC));
    const Value &b =
        values_.at(descriptor(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC));
    const Descriptor *cDesc = descriptor(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC);
    std::vector<int64_t> cDims = info(cDesc).dims;
    size_t rank = cDims.size();
    if (rank < 2 || a.dims.size() != rank || b.dims.size() != rank)
      fail("matmul operands of different ranks");
    int64_t m = cDims[rank - 2], n = cDims[rank - 1], k = a.dims[rank - 1];
    if (a.dims[rank - 2] != m || b.dims[rank - 2] != k || b.dims[rank - 1] != n)
      fail("matmul shapes do not agree");
    std::vector<int64_t> batch(cDims.begin(), cDims.end() - 2);
    std::vector<int64_t> aBatch(a.dims.begin(), a.dims.end() - 2);
    std::vector<int64_t> bBatch(b.dims.begin(), b.dims.end() - 2);
    checkBroadcast(aBatch, batch, "matmul A");
    checkBroadcast(bBatch, batch, "matmul B");
    Value c{cDims, std::vector<double>(count(cDims))};
    std::vector<int64_t> index;
    for (int64_t f = 0; f < count(batch); ++f) {
      unflatten(f, batch, index);
      const double *pa = &a.data[broadcastIndex(aBatch, batch, index) * m * k];
      const double *pb = &b.data[broadcastIndex(bBatch, batch, index) * k * n];
      double *pc = &c.data[f * m * n];
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t l = 0; l < k; ++l)
            sum += pa[i * k + l] * pb[l * n + j];
          pc[i * n + j] = sum;
        }
    }
    produce(cDesc, std::move(c));
  }

  void pointwise(const Descriptor *op) {
    const Descriptor *pw =
        descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR);
    auto mode = static_cast<cudnnPointwiseMode_t>(
        one<int32_t>(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE));
    const Descriptor *yDesc =
        descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC);
    std::vector<int64_t> yDims = info(yDesc).dims;
    Value y{yDims, std::vector<double>(count(yDims))};
    std::vector<int64_t> index;
    if (mode == CUDNN_POINTWISE_GEN_INDEX) {
      int64_t axis =
          one<int64_t>(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64);
      if (axis < 0 || axis >= static_cast<int64_t>(yDims.size()))
        fail("GEN_INDEX along an axis the output lacks");
      for (int64_t f = 0; f < count(yDims); ++f) {
        unflatten(f, yDims, index);
        y.data[f] = static_cast<double>(index[axis]);
      }
      return produce(yDesc, std::move(y));
    }
    auto operand = [&](int name) -> const Value * {
      if (!has(op, name))
        return nullptr;
      const Value &v = values_.at(descriptor(op, name));
      checkBroadcast(v.dims, yDims, "pointwise");
      return &v;
    };
    const Value *x = operand(CUDNN_ATTR_OPERATION_POINTWISE_XDESC);
    const Value *b = operand(CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
    const Value *t = operand(CUDNN_ATTR_OPERATION_POINTWISE_TDESC);
    bool binary = mode == CUDNN_POINTWISE_ADD || mode == CUDNN_POINTWISE_SUB ||
                  mode == CUDNN_POINTWISE_MUL || mode == CUDNN_POINTWISE_DIV ||
                  mode == CUDNN_POINTWISE_MAX || mode == CUDNN_POINTWISE_MIN;
    bool compare =
        mode >= CUDNN_POINTWISE_CMP_EQ && mode <= CUDNN_POINTWISE_CMP_LE;
    if ((binary || compare || mode == CUDNN_POINTWISE_BINARY_SELECT) && !b)
      fail("a binary pointwise operation without its B operand");
    if (mode == CUDNN_POINTWISE_BINARY_SELECT && !t)
      fail("BINARY_SELECT without its T (condition) operand");
    for (int64_t f = 0; f < count(yDims); ++f) {
      unflatten(f, yDims, index);
      double xv = x->data[broadcastIndex(x->dims, yDims, index)];
      double bv = b ? b->data[broadcastIndex(b->dims, yDims, index)] : 0;
      double r;
      switch (mode) {
      case CUDNN_POINTWISE_ADD:
        r = xv + bv;
        break;
      case CUDNN_POINTWISE_SUB:
        r = xv - bv;
        break;
      case CUDNN_POINTWISE_MUL:
        r = xv * bv;
        break;
      case CUDNN_POINTWISE_DIV:
        r = xv / bv;
        break;
      case CUDNN_POINTWISE_MAX:
        r = std::max(xv, bv);
        break;
      case CUDNN_POINTWISE_MIN:
        r = std::min(xv, bv);
        break;
      case CUDNN_POINTWISE_EXP:
        r = std::exp(xv);
        break;
      case CUDNN_POINTWISE_LOG:
        r = std::log(xv);
        break;
      case CUDNN_POINTWISE_NEG:
        r = -xv;
        break;
      case CUDNN_POINTWISE_IDENTITY:
        r = xv;
        break;
      case CUDNN_POINTWISE_RECIPROCAL:
        r = 1 / xv;
        break;
      case CUDNN_POINTWISE_CMP_EQ:
        r = xv == bv;
        break;
      case CUDNN_POINTWISE_CMP_NEQ:
        r = xv != bv;
        break;
      case CUDNN_POINTWISE_CMP_GT:
        r = xv > bv;
        break;
      case CUDNN_POINTWISE_CMP_GE:
        r = xv >= bv;
        break;
      case CUDNN_POINTWISE_CMP_LT:
        r = xv < bv;
        break;
      case CUDNN_POINTWISE_CMP_LE:
        r = xv <= bv;
        break;
      case CUDNN_POINTWISE_BINARY_SELECT:
        // y = t ? x : b
        r = t->data[broadcastIndex(t->dims, yDims, index)] != 0 ? xv : bv;
        break;
      default:
        fail("pointwise mode " + std::to_string(mode) +
             " is not implemented by the fake");
      }
      y.data[f] = r;
    }
    produce(yDesc, std::move(y));
  }

  /// The memory x's strides lay out, read through y's dimensions and
  /// strides: with the same memory order, a transpose that is a view.
  void reshape(const Descriptor *op) {
    const Descriptor *xDesc =
        descriptor(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC);
    const Descriptor *yDesc =
        descriptor(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC);
    TensorInfo xi = info(xDesc), yi = info(yDesc);
    if (count(xi.dims) != count(yi.dims))
      fail("a reshape changes the element count");
    const Value &x = values_.at(xDesc);
    std::map<int64_t, double> memory;
    std::vector<int64_t> index;
    for (int64_t f = 0; f < count(xi.dims); ++f) {
      unflatten(f, xi.dims, index);
      if (!memory.emplace(offsetOf(xi.strides, index), x.data[f]).second)
        fail("a reshape's input strides overlap");
    }
    Value y{yi.dims, std::vector<double>(count(yi.dims))};
    for (int64_t f = 0; f < count(yi.dims); ++f) {
      unflatten(f, yi.dims, index);
      auto it = memory.find(offsetOf(yi.strides, index));
      if (it == memory.end())
        fail("a reshape reads memory its input does not describe");
      y.data[f] = it->second;
    }
    produce(yDesc, std::move(y));
  }

  /// Reduces the dimensions the output has as 1 (and the input does not),
  /// and sums groups where the output's dimension divides the input's
  /// (input index i goes to output i / (in / out)).
  void reduction(const Descriptor *op) {
    const Descriptor *r = descriptor(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC);
    auto mode = static_cast<cudnnReduceTensorOp_t>(one<int32_t>(
        r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE));
    const Value &x =
        values_.at(descriptor(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC));
    const Descriptor *yDesc =
        descriptor(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC);
    std::vector<int64_t> yDims = info(yDesc).dims;
    if (yDims.size() != x.dims.size())
      fail("a reduction's output rank differs from its input's");
    checkBroadcast(yDims, x.dims, "reduction");
    double init;
    switch (mode) {
    case CUDNN_REDUCE_TENSOR_ADD:
      init = 0;
      break;
    case CUDNN_REDUCE_TENSOR_MAX:
      init = -std::numeric_limits<double>::infinity();
      break;
    case CUDNN_REDUCE_TENSOR_MIN:
      init = std::numeric_limits<double>::infinity();
      break;
    default:
      fail("reduction operator " + std::to_string(mode) +
           " is not implemented by the fake");
    }
    Value y{yDims, std::vector<double>(count(yDims), init)};
    std::vector<int64_t> index;
    for (int64_t f = 0; f < count(x.dims); ++f) {
      unflatten(f, x.dims, index);
      int64_t at = broadcastIndex(yDims, x.dims, index);
      double v = x.data[f];
      double &acc = y.data[at];
      acc = mode == CUDNN_REDUCE_TENSOR_ADD   ? acc + v
            : mode == CUDNN_REDUCE_TENSOR_MAX ? std::max(acc, v)
                                              : std::min(acc, v);
    }
    produce(yDesc, std::move(y));
  }
};

constexpr int64_t kWorkspaceBytes = 4096;

} // namespace

extern "C" {

size_t cudnnGetVersion() { return 91900; }

const char *cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
  case CUDNN_STATUS_SUCCESS:
    return "CUDNN_STATUS_SUCCESS";
  case CUDNN_STATUS_BAD_PARAM:
    return "CUDNN_STATUS_BAD_PARAM";
  case CUDNN_STATUS_NOT_SUPPORTED:
    return "CUDNN_STATUS_NOT_SUPPORTED";
  default:
    return "CUDNN_STATUS_(fake: other)";
  }
}

void cudnnGetLastErrorString(char *message, size_t size) {
  if (size == 0)
    return;
  std::snprintf(message, size, "%s", lastError.c_str());
  lastError.clear();
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
  *handle = reinterpret_cast<cudnnHandle_t>(new Handle());
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete reinterpret_cast<Handle *>(handle);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  reinterpret_cast<Handle *>(handle)->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t kind,
                                           cudnnBackendDescriptor_t *d) {
  auto *desc = new Descriptor();
  desc->kind = kind;
  *d = desc;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t d) {
  delete cast(d);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type,
                                       int64_t count, const void *values) {
  Descriptor *desc = cast(d);
  if (!desc)
    return reject(CUDNN_STATUS_BAD_PARAM, "a null descriptor");
  if (desc->finalized)
    return reject(CUDNN_STATUS_BAD_PARAM,
                  "an attribute set on a finalized descriptor");
  if (count < 0 || (count > 0 && !values))
    return reject(CUDNN_STATUS_BAD_PARAM, "a bad element count or pointer");
  Attribute a{type, count, std::vector<char>(count * elementBytes(type))};
  if (count)
    std::memcpy(a.bytes.data(), values, a.bytes.size());
  desc->attributes[name] = std::move(a);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t d) {
  Descriptor *desc = cast(d);
  if (desc->finalized)
    return reject(CUDNN_STATUS_BAD_PARAM, "finalized twice");
  std::string why = missingAttributes(desc);
  if (why.empty() && desc->kind != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)
    why = unfinalizedReferences(desc);
  if (why.empty() && desc->kind == CUDNN_BACKEND_TENSOR_DESCRIPTOR)
    why = checkTensor(desc);
  if (!why.empty())
    return reject(CUDNN_STATUS_BAD_PARAM,
                  "descriptor type " + std::to_string(desc->kind) + ": " + why);
  desc->finalized = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type,
                                       int64_t requested, int64_t *count,
                                       void *values) {
  Descriptor *desc = cast(d);
  if (!desc->finalized)
    return reject(CUDNN_STATUS_BAD_PARAM,
                  "an attribute read from a descriptor not finalized");
  switch (name) {
  case CUDNN_ATTR_ENGINEHEUR_RESULTS: {
    // One engine; the caller passes created engine configurations.
    if (type != CUDNN_TYPE_BACKEND_DESCRIPTOR)
      return reject(CUDNN_STATUS_BAD_PARAM, "results are descriptors");
    if (count)
      *count = 1;
    if (requested >= 1 && values) {
      Descriptor *cfg = *static_cast<Descriptor **>(values);
      if (!cfg || cfg->kind != CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)
        return reject(CUDNN_STATUS_BAD_PARAM,
                      "results go to engine configuration descriptors");
      cfg->graph = descriptor(desc, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
      cfg->finalized = true;
    }
    return CUDNN_STATUS_SUCCESS;
  }
  case CUDNN_ATTR_ENGINECFG_ENGINE: {
    if (type != CUDNN_TYPE_BACKEND_DESCRIPTOR || requested < 1 || !values)
      return reject(CUDNN_STATUS_BAD_PARAM, "an engine is one descriptor");
    Descriptor *engine = *static_cast<Descriptor **>(values);
    if (!engine || engine->kind != CUDNN_BACKEND_ENGINE_DESCRIPTOR)
      return reject(CUDNN_STATUS_BAD_PARAM,
                    "the engine goes to an engine descriptor");
    engine->finalized = true;
    if (count)
      *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  case CUDNN_ATTR_ENGINE_NUMERICAL_NOTE:
  case CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE: {
    // The fake's engine is deterministic and has no notes.
    if (count)
      *count = 0;
    return CUDNN_STATUS_SUCCESS;
  }
  case CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE:
  case CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE: {
    if (type != CUDNN_TYPE_INT64 || requested < 1 || !values)
      return reject(CUDNN_STATUS_BAD_PARAM, "a workspace size is one int64");
    *static_cast<int64_t *>(values) = kWorkspaceBytes;
    if (count)
      *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  default: {
    const Attribute *a = find(desc, name);
    if (!a)
      return reject(CUDNN_STATUS_NOT_SUPPORTED,
                    "attribute " + std::to_string(name) +
                        " is not set or not implemented by the fake");
    if (a->type != type)
      return reject(CUDNN_STATUS_BAD_PARAM, "read with another type");
    if (count)
      *count = a->count;
    if (values)
      std::memcpy(values, a->bytes.data(),
                  std::min<int64_t>(requested, a->count) * elementBytes(type));
    return CUDNN_STATUS_SUCCESS;
  }
  }
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle,
                                  cudnnBackendDescriptor_t plan,
                                  cudnnBackendDescriptor_t pack) {
  const Descriptor *p = cast(plan), *v = cast(pack);
  if (!handle || !p->finalized || !v->finalized)
    return reject(CUDNN_STATUS_BAD_PARAM,
                  "execute needs a handle and finalized descriptors");
  const Descriptor *cfg =
      descriptor(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
  if (!cfg->graph)
    fail("the plan's engine configuration came from no heuristics");
  void *workspace =
      one<void *>(v, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR);
  if (!workspace)
    fail("a plan with a workspace executed without one");
  checkDeviceRange("fake libcudnn", workspace, kWorkspaceBytes, "workspace");
  std::memset(workspace, 0xA5, kWorkspaceBytes);
  Interpreter(cfg->graph, v).run();
  return CUDNN_STATUS_SUCCESS;
}

} // extern "C"
