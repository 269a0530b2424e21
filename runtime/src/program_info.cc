//===- program_info.cc - the compiled program's description ---------------===//

#include "program_info.h"

#include "palmrt/mesh.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#include <limits>

namespace palmrt {

int64_t dtypeBytes(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
  case PALMRT_I32:
    return 4;
  case PALMRT_BF16:
    return 2;
  case PALMRT_I64:
    return 8;
  default:
    return 0;
  }
}

const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
    return "f32";
  case PALMRT_BF16:
    return "bf16";
  case PALMRT_I32:
    return "i32";
  case PALMRT_I64:
    return "i64";
  default:
    return "unknown";
  }
}

int64_t TensorSpec::localElements() const {
  int64_t n = 1;
  for (int64_t d : localShape)
    n *= d;
  return n;
}

int64_t TensorSpec::globalElements() const {
  int64_t n = 1;
  for (int64_t d : globalShape)
    n *= d;
  return n;
}

int64_t ProgramInfo::numDevices() const {
  int64_t n = 1;
  for (int64_t s : meshShape)
    n *= s;
  return n;
}

std::string ProgramInfo::meshString() const {
  if (axisNames.empty())
    return "single device";
  std::vector<std::string> parts;
  for (size_t i = 0; i < axisNames.size(); ++i)
    parts.push_back(absl::StrCat(axisNames[i], "=", meshShape[i]));
  return absl::StrJoin(parts, ",");
}

const TensorSpec *ProgramInfo::findArg(absl::string_view name) const {
  for (const TensorSpec &t : args)
    if (t.name == name)
      return &t;
  return nullptr;
}

const TensorSpec *ProgramInfo::findResult(absl::string_view name) const {
  for (const TensorSpec &t : results)
    if (t.name == name)
      return &t;
  return nullptr;
}

int64_t groupSize(const ProgramInfo &info, const std::vector<int32_t> &axes) {
  int64_t n = 1;
  for (int32_t a : axes)
    n *= info.meshShape[a];
  return n;
}

int64_t indexInGroup(const ProgramInfo &info, int64_t rank,
                     const std::vector<int32_t> &axes) {
  if (axes.empty())
    return 0;
  int64_t index = 0, group = 0;
  palmrt_mesh_status s = palmrt_mesh_group_position(
      static_cast<int32_t>(info.meshShape.size()), info.meshShape.data(), rank,
      static_cast<int32_t>(axes.size()), axes.data(), &index, &group);
  // The description was checked when parsed, and ranks come from the job.
  return s == PALMRT_MESH_OK ? index : 0;
}

std::vector<int64_t> shardOffsets(const ProgramInfo &info,
                                  const TensorSpec &tensor, int64_t rank) {
  std::vector<int64_t> offsets(tensor.localShape.size());
  for (size_t d = 0; d < offsets.size(); ++d)
    offsets[d] =
        indexInGroup(info, rank, tensor.sharding[d]) * tensor.localShape[d];
  return offsets;
}

namespace {

class LineParser {
public:
  LineParser(absl::string_view line, int lineNo)
      : fields(absl::StrSplit(line, ' ')), lineNo(lineNo) {}

  bool done() const { return next == fields.size(); }

  absl::Status error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("program description, line ", lineNo, ": ", what));
  }

  absl::StatusOr<absl::string_view> word(absl::string_view what) {
    if (done() || fields[next].empty())
      return error(absl::StrCat("missing ", what));
    return fields[next++];
  }

  absl::StatusOr<int64_t> integer(absl::string_view what, int64_t min,
                                  int64_t max) {
    auto w = word(what);
    if (!w.ok())
      return w.status();
    int64_t v;
    if (!absl::SimpleAtoi(*w, &v) || v < min || v > max)
      return error(absl::StrCat("bad ", what, " '", *w, "'"));
    return v;
  }

  absl::StatusOr<double> real(absl::string_view what) {
    auto w = word(what);
    if (!w.ok())
      return w.status();
    double v;
    if (!absl::SimpleAtod(*w, &v))
      return error(absl::StrCat("bad ", what, " '", *w, "'"));
    return v;
  }

private:
  std::vector<absl::string_view> fields;
  size_t next = 0;
  int lineNo;
};

#define PALMRT_ASSIGN(lhs, expr)                                               \
  do {                                                                         \
    auto _value = (expr);                                                      \
    if (!_value.ok())                                                          \
      return _value.status();                                                  \
    lhs = *std::move(_value);                                                  \
  } while (false)

constexpr int64_t kMaxDim = std::numeric_limits<int64_t>::max() / 2;

absl::StatusOr<int32_t> axisIndex(const ProgramInfo &info, LineParser &p,
                                  absl::string_view name) {
  for (size_t i = 0; i < info.axisNames.size(); ++i)
    if (info.axisNames[i] == name)
      return static_cast<int32_t>(i);
  return p.error(absl::StrCat("unknown mesh axis '", name, "'"));
}

absl::Status parseTensor(ProgramInfo &info, LineParser &p, TensorSpec &t,
                         bool isArg) {
  if (isArg) {
    absl::string_view kind;
    PALMRT_ASSIGN(kind, p.word("argument kind"));
    if (kind == "param")
      t.kind = TensorKind::Param;
    else if (kind == "input")
      t.kind = TensorKind::Input;
    else
      return p.error(absl::StrCat("argument kind '", kind,
                                  "' is neither param nor input"));
  } else {
    t.kind = TensorKind::Result;
  }
  absl::string_view name, dtype;
  PALMRT_ASSIGN(name, p.word("name"));
  t.name = std::string(name);
  PALMRT_ASSIGN(dtype, p.word("dtype"));
  if (dtype == "f32")
    t.dtype = PALMRT_F32;
  else if (dtype == "bf16")
    t.dtype = PALMRT_BF16;
  else if (dtype == "i32")
    t.dtype = PALMRT_I32;
  else if (dtype == "i64")
    t.dtype = PALMRT_I64;
  else
    return p.error(absl::StrCat("unknown dtype '", dtype, "'"));
  int64_t rank;
  PALMRT_ASSIGN(rank, p.integer("rank", 0, 64));
  t.globalShape.resize(rank);
  t.localShape.resize(rank);
  t.sharding.resize(rank);
  for (int64_t d = 0; d < rank; ++d)
    PALMRT_ASSIGN(t.globalShape[d], p.integer("global dimension", 0, kMaxDim));
  for (int64_t d = 0; d < rank; ++d)
    PALMRT_ASSIGN(t.localShape[d], p.integer("local dimension", 0, kMaxDim));
  std::vector<bool> used(info.axisNames.size());
  for (int64_t d = 0; d < rank; ++d) {
    absl::string_view spec;
    PALMRT_ASSIGN(spec, p.word("dimension sharding"));
    int64_t shards = 1;
    if (spec != "-") {
      for (absl::string_view axis : absl::StrSplit(spec, ',')) {
        int32_t a;
        PALMRT_ASSIGN(a, axisIndex(info, p, axis));
        if (used[a])
          return p.error(absl::StrCat("mesh axis '", axis, "' shards '", t.name,
                                      "' twice"));
        used[a] = true;
        t.sharding[d].push_back(a);
        shards *= info.meshShape[a];
      }
    }
    int64_t expected = (t.globalShape[d] + shards - 1) / shards;
    if (t.localShape[d] != expected)
      return p.error(absl::StrCat(
          "'", t.name, "' dimension ", d, ": local size ", t.localShape[d],
          " is not ceil(", t.globalShape[d], " / ", shards, ") = ", expected));
  }
  if (p.done()) {
    if (t.kind == TensorKind::Param)
      return p.error(absl::StrCat("parameter '", t.name, "' has no init"));
    return absl::OkStatus();
  }
  absl::string_view keyword, init;
  PALMRT_ASSIGN(keyword, p.word("init"));
  if (keyword != "init" || t.kind != TensorKind::Param)
    return p.error(absl::StrCat("unexpected '", keyword, "'"));
  PALMRT_ASSIGN(init, p.word("init kind"));
  if (init == "normal")
    t.init = InitKind::Normal;
  else if (init == "ones")
    t.init = InitKind::Ones;
  else if (init == "zeros")
    t.init = InitKind::Zeros;
  else
    return p.error(absl::StrCat("unknown init '", init, "'"));
  PALMRT_ASSIGN(t.stddev, p.real("init stddev"));
  if (!p.done())
    return p.error("unexpected text after init");
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<ProgramInfo> parseProgramInfo(absl::string_view text) {
  ProgramInfo info;
  bool sawMesh = false, sawTarget = false;
  int lineNo = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty() || line[0] == '#')
      continue;
    LineParser p(line, lineNo);
    absl::string_view keyword;
    PALMRT_ASSIGN(keyword, p.word("keyword"));
    if (info.version == 0) {
      if (keyword != "palm-program")
        return p.error("expected 'palm-program <version>' first");
      PALMRT_ASSIGN(info.version, p.integer("version", 1, 1000));
      if (info.version != 1)
        return p.error(absl::StrCat("version ", info.version,
                                    " is not supported (this runtime "
                                    "reads version 1)"));
    } else if (keyword == "mesh") {
      if (sawMesh)
        return p.error("a second mesh");
      sawMesh = true;
      int64_t n;
      PALMRT_ASSIGN(n, p.integer("axis count", 0, 64));
      for (int64_t i = 0; i < n; ++i) {
        absl::string_view name;
        int64_t size;
        PALMRT_ASSIGN(name, p.word("axis name"));
        PALMRT_ASSIGN(size, p.integer("axis size", 1, 1 << 24));
        for (const std::string &other : info.axisNames)
          if (other == name)
            return p.error(absl::StrCat("axis '", name, "' declared twice"));
        info.axisNames.emplace_back(name);
        info.meshShape.push_back(size);
      }
      if (info.numDevices() > (1 << 24))
        return p.error("mesh too large");
    } else if (keyword == "group") {
      if (!sawMesh)
        return p.error("group before mesh");
      int64_t id, n;
      PALMRT_ASSIGN(id, p.integer("group id", 0, 1 << 20));
      if (id != static_cast<int64_t>(info.groups.size()))
        return p.error(absl::StrCat("group ids must count up from 0; "
                                    "expected ",
                                    info.groups.size(), ", got ", id));
      PALMRT_ASSIGN(n, p.integer("group axis count", 0, 64));
      std::vector<int32_t> axes;
      for (int64_t i = 0; i < n; ++i) {
        absl::string_view name;
        int32_t a;
        PALMRT_ASSIGN(name, p.word("group axis"));
        PALMRT_ASSIGN(a, axisIndex(info, p, name));
        for (int32_t b : axes)
          if (a == b)
            return p.error(absl::StrCat("axis '", name, "' listed twice"));
        axes.push_back(a);
      }
      info.groups.push_back(std::move(axes));
    } else if (keyword == "arg" || keyword == "result") {
      if (!sawMesh)
        return p.error(absl::StrCat(keyword, " before mesh"));
      bool isArg = keyword == "arg";
      auto &list = isArg ? info.args : info.results;
      TensorSpec t;
      int64_t index;
      PALMRT_ASSIGN(index, p.integer("index", 0, 1 << 24));
      if (index != static_cast<int64_t>(list.size()))
        return p.error(absl::StrCat(keyword,
                                    " indices must count up from 0; "
                                    "expected ",
                                    list.size(), ", got ", index));
      t.index = static_cast<int>(index);
      if (absl::Status s = parseTensor(info, p, t, isArg); !s.ok())
        return s;
      list.push_back(std::move(t));
    } else if (keyword == "flops") {
      PALMRT_ASSIGN(info.flops, p.integer("FLOPs per step", 0, INT64_MAX));
    } else if (keyword == "vocab") {
      PALMRT_ASSIGN(info.vocab, p.integer("vocabulary size", 1, 1LL << 31));
    } else if (keyword == "target") {
      if (sawTarget)
        return p.error("a second target");
      sawTarget = true;
      absl::string_view name;
      PALMRT_ASSIGN(name, p.word("target"));
      if (name == "cpu")
        info.target = Target::Cpu;
      else if (name == "cuda")
        info.target = Target::Cuda;
      else
        return p.error(absl::StrCat("unknown target '", name,
                                    "' (this runtime runs cpu and cuda)"));
      if (!p.done())
        return p.error("unexpected text after the target");
    }
    // Other keywords are informational lines of later compilers; skipping
    // them keeps old runtimes working.
  }
  if (info.version == 0)
    return absl::InvalidArgumentError(
        "program description is empty (expected 'palm-program 1')");
  if (!sawMesh)
    return absl::InvalidArgumentError("program description has no mesh line");
  for (const auto &list : {&info.args, &info.results})
    for (size_t i = 0; i < list->size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if ((*list)[i].name == (*list)[j].name)
          return absl::InvalidArgumentError(
              absl::StrCat("program description: two ",
                           list == &info.args ? "arguments" : "results",
                           " named '", (*list)[i].name, "'"));
  return info;
}

} // namespace palmrt
