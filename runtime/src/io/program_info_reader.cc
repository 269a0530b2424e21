//===- program_info_reader.cc - the description's JSON, checked -----------===//
//
// Every member of the description (docs/runtime-abi.md) is checked before
// the runtime uses any: types, ranges, ranks, ceil shards, mesh axes,
// element counts, duplicates. Errors name the member's path.
//
//===----------------------------------------------------------------------===//

#include "io/program_info.h"

#include "base/status_macros.h"
#include "io/json.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <algorithm>

#include <limits>

namespace palmrt {
namespace {

constexpr int64_t kMaxDim = std::numeric_limits<int64_t>::max() / 2;
constexpr int64_t kMaxRank = 64;
constexpr int64_t kMaxDevices = 1 << 24;

/// The mesh axis `name` (a JSON string), by position.
absl::StatusOr<int32_t> axisIndex(const ProgramInfo &info,
                                  const JsonNode &node) {
  PALMRT_ASSIGN_OR_RETURN(std::string name, node.string());
  for (size_t i = 0; i < info.axisNames.size(); ++i)
    if (info.axisNames[i] == name)
      return static_cast<int32_t>(i);
  return node.error(absl::StrCat("unknown mesh axis '", name, "'"));
}

/// A list of distinct mesh axes (a group, or the axes splitting one
/// dimension); `used` carries the axes already taken across calls.
absl::StatusOr<std::vector<int32_t>> axisList(const ProgramInfo &info,
                                              const JsonNode &node,
                                              std::vector<bool> &used) {
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> names, node.elements());
  std::vector<int32_t> axes;
  for (const JsonNode &name : names) {
    PALMRT_ASSIGN_OR_RETURN(int32_t a, axisIndex(info, name));
    if (used[a])
      return name.error(
          absl::StrCat("mesh axis '", info.axisNames[a], "' is used twice"));
    used[a] = true;
    axes.push_back(a);
  }
  return axes;
}

absl::Status parseMesh(const JsonNode &root, ProgramInfo &info) {
  PALMRT_ASSIGN_OR_RETURN(JsonNode mesh, root.get("mesh"));
  PALMRT_ASSIGN_OR_RETURN(JsonNode axesNode, mesh.get("axes"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> axes, axesNode.elements());
  if (static_cast<int64_t>(axes.size()) > kMaxRank)
    return axesNode.error(absl::StrCat("more than ", kMaxRank, " axes"));
  for (const JsonNode &axis : axes) {
    PALMRT_ASSIGN_OR_RETURN(std::string name, axis.getString("name"));
    PALMRT_ASSIGN_OR_RETURN(int64_t size,
                            axis.getInteger("size", 1, kMaxDevices));
    if (name.empty())
      return axis.error("empty axis name");
    for (const std::string &other : info.axisNames)
      if (other == name)
        return axis.error(absl::StrCat("axis '", name, "' declared twice"));
    info.axisNames.push_back(name);
    info.meshShape.push_back(size);
    if (info.numDevices() > kMaxDevices)
      return axesNode.error(
          absl::StrCat("more than ", kMaxDevices, " devices"));
  }
  return absl::OkStatus();
}

absl::Status parseGroups(const JsonNode &root, ProgramInfo &info) {
  PALMRT_ASSIGN_OR_RETURN(JsonNode groups, root.get("groups"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> list, groups.elements());
  for (const JsonNode &group : list) {
    std::vector<bool> used(info.axisNames.size());
    PALMRT_ASSIGN_OR_RETURN(info.groups.emplace_back(),
                            axisList(info, group, used));
  }
  return absl::OkStatus();
}

absl::StatusOr<palmrt_dtype> parseDtype(const JsonNode &tensor) {
  PALMRT_ASSIGN_OR_RETURN(JsonNode node, tensor.get("dtype"));
  PALMRT_ASSIGN_OR_RETURN(std::string name, node.string());
  for (palmrt_dtype d : {PALMRT_F32, PALMRT_BF16, PALMRT_I32, PALMRT_I64})
    if (name == dtypeName(d))
      return d;
  return node.error(
      absl::StrCat("unknown dtype '", name, "' (f32, bf16, i32, i64 are)"));
}

/// Shapes and sharding: equal ranks, local = ceil(global / shards) per
/// dimension, and element counts that fit int64_t.
absl::Status parseShapes(const JsonNode &tensor, const ProgramInfo &info,
                         TensorSpec &t) {
  PALMRT_ASSIGN_OR_RETURN(t.globalShape,
                          tensor.getIntegers("global_shape", 0, kMaxDim));
  PALMRT_ASSIGN_OR_RETURN(t.localShape,
                          tensor.getIntegers("local_shape", 0, kMaxDim));
  PALMRT_ASSIGN_OR_RETURN(JsonNode shardingNode, tensor.get("sharding"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> dims, shardingNode.elements());
  size_t rank = t.globalShape.size();
  if (static_cast<int64_t>(rank) > kMaxRank)
    return tensor.error(absl::StrCat("rank ", rank, " is above ", kMaxRank));
  if (t.localShape.size() != rank || dims.size() != rank)
    return tensor.error(absl::StrCat(
        "global_shape, local_shape and sharding have different ranks (", rank,
        ", ", t.localShape.size(), ", ", dims.size(), ")"));
  std::vector<bool> used(info.axisNames.size());
  int64_t elements = 1;
  for (size_t d = 0; d < rank; ++d) {
    PALMRT_ASSIGN_OR_RETURN(t.sharding.emplace_back(),
                            axisList(info, dims[d], used));
    int64_t shards = groupSize(info, t.sharding[d]);
    int64_t expected = (t.globalShape[d] + shards - 1) / shards;
    if (t.localShape[d] != expected)
      return tensor.error(absl::StrCat(
          "'", t.name, "' dimension ", d, ": local size ", t.localShape[d],
          " is not ceil(", t.globalShape[d], " / ", shards, ") = ", expected));
    if (__builtin_mul_overflow(elements, t.globalShape[d], &elements))
      return tensor.error(
          absl::StrCat("'", t.name, "' has more than 2^63 elements"));
  }
  int64_t bytes;
  if (__builtin_mul_overflow(t.localElements(), dtypeBytes(t.dtype), &bytes))
    return tensor.error(
        absl::StrCat("'", t.name, "' has more than 2^63 bytes per device"));
  return absl::OkStatus();
}

absl::Status parseInit(const JsonNode &tensor, TensorSpec &t) {
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> init, tensor.find("init"));
  bool initialised = t.kind == TensorKind::Param || t.kind == TensorKind::State;
  if (!init) {
    if (initialised)
      return tensor.error(
          absl::StrCat(t.kind == TensorKind::Param ? "parameter '" : "state '",
                       t.name, "' has no init"));
    return absl::OkStatus();
  }
  if (!initialised)
    return init->error("only parameters and state have an init");
  PALMRT_ASSIGN_OR_RETURN(std::string kind, init->getString("kind"));
  if (kind == "normal")
    t.init = InitKind::Normal;
  else if (kind == "ones")
    t.init = InitKind::Ones;
  else if (kind == "zeros")
    t.init = InitKind::Zeros;
  else
    return init->error(
        absl::StrCat("unknown init '", kind, "' (normal, ones, zeros are)"));
  PALMRT_ASSIGN_OR_RETURN(JsonNode stddev, init->get("stddev"));
  PALMRT_ASSIGN_OR_RETURN(t.stddev, stddev.number());
  return absl::OkStatus();
}

absl::StatusOr<TensorSpec> parseTensor(const JsonNode &tensor,
                                       const ProgramInfo &info, bool isArg,
                                       int index) {
  TensorSpec t;
  PALMRT_ASSIGN_OR_RETURN(int64_t given,
                          tensor.getInteger("index", 0, kMaxDim));
  if (given != index)
    return tensor.error(absl::StrCat("index ", given, " at position ", index,
                                     " (indices count up from 0)"));
  t.index = index;
  t.kind = TensorKind::Result;
  if (isArg) {
    PALMRT_ASSIGN_OR_RETURN(std::string kind, tensor.getString("kind"));
    if (kind == "param")
      t.kind = TensorKind::Param;
    else if (kind == "state")
      t.kind = TensorKind::State;
    else if (kind == "step")
      t.kind = TensorKind::Step;
    else if (kind == "input")
      t.kind = TensorKind::Input;
    else
      return tensor.error(absl::StrCat("argument kind '", kind,
                                       "' is not param, state, step or input"));
  }
  PALMRT_ASSIGN_OR_RETURN(t.name, tensor.getString("name"));
  if (t.name.empty())
    return tensor.error("empty name");
  PALMRT_ASSIGN_OR_RETURN(t.dtype, parseDtype(tensor));
  PALMRT_RETURN_IF_ERROR(parseShapes(tensor, info, t));
  PALMRT_RETURN_IF_ERROR(parseInit(tensor, t));
  // The runtime writes the step as one float on every device.
  if (t.kind == TensorKind::Step &&
      (t.dtype != PALMRT_F32 || !t.globalShape.empty()))
    return tensor.error(
        absl::StrCat("step argument '", t.name, "' must be a 0-d f32 scalar"));
  if (isArg) {
    PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> mb,
                            tensor.find("microbatch"));
    if (mb) {
      if (t.kind != TensorKind::Input || t.globalShape.empty())
        return mb->error(absl::StrCat("'", t.name,
                                      "' is not an input with a batch "
                                      "dimension, so it has no micro-batch"));
      PALMRT_ASSIGN_OR_RETURN(t.batchOf, mb->getString("of"));
      PALMRT_ASSIGN_OR_RETURN(t.microbatches,
                              mb->getInteger("count", 1, kMaxDim));
      PALMRT_ASSIGN_OR_RETURN(t.microbatch,
                              mb->getInteger("index", 0, t.microbatches - 1));
      if (t.batchOf.empty())
        return mb->error("empty \"of\"");
    }
  }
  if (!isArg) {
    PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> aliases,
                            tensor.find("aliases"));
    if (aliases) {
      PALMRT_ASSIGN_OR_RETURN(int64_t arg, aliases->integer(0, kMaxDim));
      t.aliases = static_cast<int>(std::min<int64_t>(arg, INT32_MAX));
    }
  }
  return t;
}

absl::Status parseTensors(const JsonNode &root, ProgramInfo &info, bool isArg) {
  const char *key = isArg ? "args" : "results";
  PALMRT_ASSIGN_OR_RETURN(JsonNode node, root.get(key));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> list, node.elements());
  std::vector<TensorSpec> &out = isArg ? info.args : info.results;
  for (const JsonNode &tensor : list) {
    PALMRT_ASSIGN_OR_RETURN(
        TensorSpec t,
        parseTensor(tensor, info, isArg, static_cast<int>(out.size())));
    for (const TensorSpec &other : out)
      if (other.name == t.name)
        return tensor.error(absl::StrCat("two ", key, " named '", t.name, "'"));
    out.push_back(std::move(t));
  }
  return absl::OkStatus();
}

/// format, version, target and the optional numbers.
absl::Status parseHeader(const JsonNode &root, ProgramInfo &info) {
  auto format = root.getString("format");
  if (!format.ok() || *format != "palm-program")
    return root.error("not a palm program description (\"format\" must be "
                      "\"palm-program\")");
  PALMRT_ASSIGN_OR_RETURN(int64_t version,
                          root.getInteger("version", 0, INT64_MAX));
  if (version != kProgramInfoVersion)
    return root.error(absl::StrCat("version ", version,
                                   " is not supported (this runtime reads "
                                   "version ",
                                   kProgramInfoVersion, ")"));
  info.version = static_cast<int>(version);
  PALMRT_ASSIGN_OR_RETURN(JsonNode targetNode, root.get("target"));
  PALMRT_ASSIGN_OR_RETURN(std::string target, targetNode.string());
  if (target == "cpu")
    info.target = Target::Cpu;
  else if (target == "cuda")
    info.target = Target::Cuda;
  else
    return targetNode.error(absl::StrCat("unknown target '", target,
                                         "' (this runtime runs cpu and cuda)"));
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> flops, root.find("flops"));
  if (flops) {
    PALMRT_ASSIGN_OR_RETURN(info.flops, flops->integer(0, INT64_MAX));
  }
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> memory, root.find("memory"));
  if (memory) {
    PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> staging,
                            memory->find("collective_staging"));
    if (staging) {
      PALMRT_ASSIGN_OR_RETURN(info.collectiveStaging,
                              staging->integer(0, INT64_MAX));
    }
  }
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> vocab, root.find("vocab"));
  if (vocab) {
    PALMRT_ASSIGN_OR_RETURN(info.vocab, vocab->integer(1, 1LL << 31));
  }
  return absl::OkStatus();
}

/// A result that aliases argument i replaces it between steps, so both must
/// be the same buffer shape: checked here once, not at every swap.
absl::Status checkAliases(const JsonNode &root, const ProgramInfo &info) {
  PALMRT_ASSIGN_OR_RETURN(JsonNode results, root.get("results"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> nodes, results.elements());
  std::vector<int> aliasedBy(info.args.size(), -1);
  for (const TensorSpec &r : info.results) {
    if (r.aliases < 0)
      continue;
    absl::StatusOr<JsonNode> node = nodes[r.index].get("aliases");
    if (!node.ok())
      return node.status();
    if (r.aliases >= static_cast<int>(info.args.size()))
      return node->error(absl::StrCat("result '", r.name, "' aliases argument ",
                                      r.aliases, " but there are ",
                                      info.args.size(), " arguments"));
    const TensorSpec &a = info.args[r.aliases];
    if (a.kind != TensorKind::Param && a.kind != TensorKind::State)
      return node->error(absl::StrCat("result '", r.name, "' aliases '", a.name,
                                      "', which is neither a param nor state"));
    if (aliasedBy[a.index] >= 0)
      return node->error(absl::StrCat(
          "argument '", a.name, "' is aliased by two results ('",
          info.results[aliasedBy[a.index]].name, "' and '", r.name, "')"));
    aliasedBy[a.index] = r.index;
    if (r.dtype != a.dtype || r.localShape != a.localShape ||
        r.globalShape != a.globalShape || r.sharding != a.sharding)
      return node->error(absl::StrCat(
          "result '", r.name, "' (", dtypeName(r.dtype), ", local shape [",
          absl::StrJoin(r.localShape, ","), "]) aliases '", a.name, "' (",
          dtypeName(a.dtype), ", local shape [",
          absl::StrJoin(a.localShape, ","),
          "]): an alias needs the same dtype, shapes and sharding"));
  }
  return absl::OkStatus();
}

/// The micro-batches of one input are each there once, alike.
absl::Status checkMicrobatches(const JsonNode &root, const ProgramInfo &info) {
  for (const TensorSpec &t : info.args) {
    // Each input once: from the first of its micro-batches.
    if (t.batchOf.empty() ||
        std::any_of(info.args.begin(), info.args.begin() + t.index,
                    [&](const TensorSpec &u) { return u.batchOf == t.batchOf; }))
      continue;
    std::vector<const TensorSpec *> parts(t.microbatches, nullptr);
    for (const TensorSpec &u : info.args) {
      if (u.batchOf != t.batchOf)
        continue;
      if (u.microbatches != t.microbatches || parts[u.microbatch] ||
          u.dtype != t.dtype || u.globalShape != t.globalShape ||
          u.sharding != t.sharding)
        return root.error(absl::StrCat(
            "the micro-batches of input '", t.batchOf,
            "' disagree: each of 0 .. count - 1 once, with one count, "
            "dtype, shape and sharding ('",
            u.name, "' differs from '", t.name, "')"));
      parts[u.microbatch] = &u;
    }
    for (int64_t i = 0; i < t.microbatches; ++i)
      if (!parts[i])
        return root.error(absl::StrCat("input '", t.batchOf,
                                       "' lacks micro-batch ", i, " of ",
                                       t.microbatches));
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<ProgramInfo> parseProgramInfo(absl::string_view text) {
  auto json = parseJson(text);
  if (!json.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("program description: ", json.status().message()));
  JsonNode root(*json, "program description");
  ProgramInfo info;
  PALMRT_RETURN_IF_ERROR(parseHeader(root, info));
  PALMRT_RETURN_IF_ERROR(parseMesh(root, info));
  PALMRT_RETURN_IF_ERROR(parseGroups(root, info));
  PALMRT_RETURN_IF_ERROR(parseTensors(root, info, /*isArg=*/true));
  PALMRT_RETURN_IF_ERROR(parseTensors(root, info, /*isArg=*/false));
  PALMRT_RETURN_IF_ERROR(checkAliases(root, info));
  PALMRT_RETURN_IF_ERROR(checkMicrobatches(root, info));
  return info;
}

} // namespace palmrt
