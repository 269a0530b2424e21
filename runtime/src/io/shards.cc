//===- shards.cc - sharded tensor sets on disk ----------------------------===//

#include "io/shards.h"

#include "base/file_util.h"
#include "base/status_macros.h"
#include "io/json.h"
#include "io/safetensors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace palmrt {
namespace {

std::string quotedList(const std::vector<std::string> &items) {
  std::vector<std::string> quoted;
  for (const std::string &s : items)
    quoted.push_back(jsonQuote(s));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

std::vector<std::string> axisNames(const ProgramInfo &info,
                                   const std::vector<int32_t> &axes) {
  std::vector<std::string> names;
  for (int32_t a : axes)
    names.push_back(info.axisNames[a]);
  return names;
}

/// Checks the index's mesh against the program's: shards are read by the
/// rank that wrote them, so the meshes must be the same.
absl::Status checkMesh(const JsonNode &index, const ProgramInfo &info) {
  PALMRT_ASSIGN_OR_RETURN(JsonNode mesh, index.get("mesh"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<std::string> axes,
                          mesh.getStrings("axes"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                          mesh.getIntegers("shape", 1, INT64_MAX));
  if (axes.size() != shape.size())
    return mesh.error("axes and shape differ in length");
  if (axes == info.axisNames && shape == info.meshShape)
    return absl::OkStatus();
  std::vector<std::string> parts;
  for (size_t i = 0; i < axes.size(); ++i)
    parts.push_back(absl::StrCat(axes[i], "=", shape[i]));
  return index.error(absl::StrCat("saved for mesh (", absl::StrJoin(parts, ","),
                                  "), but this program runs on mesh (",
                                  info.meshString(),
                                  "); shards are not re-partitioned on load"));
}

/// Checks the index's entry for `t` against the program.
absl::Status checkTensor(const JsonNode &tensors, const ProgramInfo &info,
                         const TensorSpec &t) {
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> entry, tensors.find(t.name));
  if (!entry)
    return tensors.error(absl::StrCat("no tensor '", t.name, "'"));
  auto differs = [&](absl::string_view what) {
    return tensors.error(absl::StrCat("tensor '", t.name, "' ", what));
  };
  if (entry->getString("dtype").value_or("") != dtypeName(t.dtype))
    return differs(absl::StrCat("is not ", dtypeName(t.dtype)));
  for (auto [key, expected] : {std::pair("global_shape", &t.globalShape),
                               std::pair("local_shape", &t.localShape)}) {
    auto shape = entry->getIntegers(key, 0, INT64_MAX);
    if (!shape.ok() || *shape != *expected)
      return differs(absl::StrCat(key, " differs from the program's ",
                                  shapeString(*expected)));
  }
  auto sharding = entry->get("sharding");
  auto dims = sharding.ok() ? sharding->elements() : sharding.status();
  bool same = dims.ok() && dims->size() == t.sharding.size();
  for (size_t d = 0; same && d < t.sharding.size(); ++d) {
    auto names = (*dims)[d].strings();
    same = names.ok() && *names == axisNames(info, t.sharding[d]);
  }
  if (!same)
    return differs("is sharded differently from the program");
  return absl::OkStatus();
}

} // namespace

std::string shardFileName(const std::string &prefix, int64_t rank) {
  return absl::StrFormat("%s-rank%05d.safetensors", prefix, rank);
}

std::string shardIndexJson(const ProgramInfo &info,
                           const std::vector<const TensorSpec *> &tensors,
                           const std::string &prefix, const std::string &run) {
  std::vector<std::string> files;
  for (int64_t r = 0; r < info.numDevices(); ++r)
    files.push_back(shardFileName(prefix, r));
  std::string out =
      absl::StrCat("{\n  \"format\": \"palm-shards\",\n  \"version\": 1,\n",
                   "  \"mesh\": {\"axes\": ", quotedList(info.axisNames),
                   ", \"shape\": [", absl::StrJoin(info.meshShape, ", "),
                   "]},\n", "  \"files\": ", quotedList(files), ",\n");
  if (!run.empty())
    absl::StrAppend(&out, "  \"run\": {", run, "},\n");
  out += "  \"tensors\": {";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec &t = *tensors[i];
    std::vector<std::string> dims;
    for (const auto &axes : t.sharding)
      dims.push_back(quotedList(axisNames(info, axes)));
    absl::StrAppend(&out, i ? "," : "", "\n    ", jsonQuote(t.name),
                    ": {\"dtype\": \"", dtypeName(t.dtype),
                    "\", \"global_shape\": [",
                    absl::StrJoin(t.globalShape, ", "), "], \"local_shape\": [",
                    absl::StrJoin(t.localShape, ", "), "], \"sharding\": [",
                    absl::StrJoin(dims, ", "), "]}");
  }
  out += "\n  }\n}\n";
  return out;
}

absl::Status writeShards(const std::string &dir, const std::string &prefix,
                         const ProgramInfo &info, int64_t rank,
                         const std::vector<const TensorSpec *> &tensors,
                         const std::vector<const void *> &buffers,
                         const std::string &run) {
  if (absl::Status s = makeDirectories(dir); !s.ok())
    return s;
  std::vector<TensorView> views;
  for (size_t i = 0; i < tensors.size(); ++i)
    views.push_back({tensors[i]->name, tensors[i]->dtype,
                     tensors[i]->localShape, buffers[i]});
  absl::Status s =
      writeSafetensors(joinPath(dir, shardFileName(prefix, rank)), views,
                       {{"format", "palm-shards"},
                        {"rank", absl::StrCat(rank)},
                        {"mesh", info.meshString()}});
  if (!s.ok() || rank != 0)
    return s;
  return writeFileAtomically(joinPath(dir, prefix + ".index.json"),
                             shardIndexJson(info, tensors, prefix, run));
}

absl::Status readShards(const std::string &dir, const std::string &prefix,
                        const ProgramInfo &info, int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers) {
  std::string indexPath = joinPath(dir, prefix + ".index.json");
  auto text = readFile(indexPath);
  if (!text.ok())
    return text.status();
  auto parsed = parseJson(*text);
  if (!parsed.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(indexPath, ": ", parsed.status().message()));
  JsonNode index(*parsed, indexPath);
  if (index.getString("format").value_or("") != "palm-shards" ||
      index.getInteger("version", 1, 1).value_or(0) != 1)
    return index.error("not a palm-shards index of version 1");
  PALMRT_RETURN_IF_ERROR(checkMesh(index, info));
  auto files = index.getStrings("files");
  if (!files.ok() || static_cast<int64_t>(files->size()) != info.numDevices())
    return index.error(absl::StrCat("\"files\" must list one file per device (",
                                    info.numDevices(), ")"));
  const std::string &fileName = (*files)[rank];
  if (fileName.empty() || fileName.find('/') != std::string::npos)
    return index.error(absl::StrCat("bad file name '", fileName, "'"));
  PALMRT_ASSIGN_OR_RETURN(JsonNode entries, index.get("tensors"));
  for (const TensorSpec *t : tensors)
    PALMRT_RETURN_IF_ERROR(checkTensor(entries, info, *t));
  auto file = SafetensorsFile::open(joinPath(dir, fileName));
  if (!file.ok())
    return file.status();
  for (size_t i = 0; i < tensors.size(); ++i)
    if (absl::Status s = (*file)->read(tensors[i]->name, tensors[i]->dtype,
                                       tensors[i]->localShape, buffers[i]);
        !s.ok())
      return s;
  return absl::OkStatus();
}

} // namespace palmrt
