//===- shards.cc - sharded tensor sets on disk ----------------------------===//

#include "shards.h"

#include "file_util.h"
#include "json.h"
#include "safetensors.h"

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

/// The integers of a JSON array, or false.
bool intList(const JsonValue *v, std::vector<int64_t> *out) {
  if (!v || !v->isArray())
    return false;
  out->clear();
  for (const JsonValue &e : v->array) {
    if (!e.isInteger)
      return false;
    out->push_back(e.integer);
  }
  return true;
}

bool stringList(const JsonValue *v, std::vector<std::string> *out) {
  if (!v || !v->isArray())
    return false;
  out->clear();
  for (const JsonValue &e : v->array) {
    if (!e.isString())
      return false;
    out->push_back(e.string);
  }
  return true;
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
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(indexPath, ": ", what));
  };
  auto index = parseJson(*text);
  if (!index.ok())
    return bad(index.status().message());
  const JsonValue *format = index->find("format");
  const JsonValue *version = index->find("version");
  if (!index->isObject() || !format || !format->isString() ||
      format->string != "palm-shards" || !version || !version->isInteger ||
      version->integer != 1)
    return bad("not a palm-shards index of version 1");
  const JsonValue *mesh = index->find("mesh");
  std::vector<std::string> axes;
  std::vector<int64_t> shape;
  if (!mesh || !mesh->isObject() || !stringList(mesh->find("axes"), &axes) ||
      !intList(mesh->find("shape"), &shape) || axes.size() != shape.size())
    return bad("no valid \"mesh\"");
  if (axes != info.axisNames || shape != info.meshShape) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < axes.size(); ++i)
      parts.push_back(absl::StrCat(axes[i], "=", shape[i]));
    return bad(absl::StrCat("saved for mesh (", absl::StrJoin(parts, ","),
                            "), but this program runs on mesh (",
                            info.meshString(),
                            "); shards are not re-partitioned on load"));
  }
  std::vector<std::string> files;
  if (!stringList(index->find("files"), &files) ||
      static_cast<int64_t>(files.size()) != info.numDevices())
    return bad(absl::StrCat("\"files\" must list one file per device (",
                            info.numDevices(), ")"));
  const std::string &fileName = files[rank];
  if (fileName.empty() || fileName.find('/') != std::string::npos)
    return bad(absl::StrCat("bad file name '", fileName, "'"));
  const JsonValue *entries = index->find("tensors");
  if (!entries || !entries->isObject())
    return bad("no \"tensors\" object");
  for (const TensorSpec *t : tensors) {
    const JsonValue *e = entries->find(t->name);
    if (!e || !e->isObject())
      return bad(absl::StrCat("no tensor '", t->name, "'"));
    const JsonValue *dtype = e->find("dtype");
    std::vector<int64_t> global, local;
    if (!dtype || !dtype->isString() || dtype->string != dtypeName(t->dtype))
      return bad(
          absl::StrCat("tensor '", t->name, "' is not ", dtypeName(t->dtype)));
    if (!intList(e->find("global_shape"), &global) || global != t->globalShape)
      return bad(absl::StrCat("tensor '", t->name,
                              "': global_shape differs from the program's ",
                              shapeString(t->globalShape)));
    if (!intList(e->find("local_shape"), &local) || local != t->localShape)
      return bad(absl::StrCat("tensor '", t->name,
                              "': local_shape differs from the program's ",
                              shapeString(t->localShape)));
    const JsonValue *sharding = e->find("sharding");
    bool same = sharding && sharding->isArray() &&
                sharding->array.size() == t->sharding.size();
    for (size_t d = 0; same && d < t->sharding.size(); ++d) {
      std::vector<std::string> names;
      same = stringList(&sharding->array[d], &names) &&
             names == axisNames(info, t->sharding[d]);
    }
    if (!same)
      return bad(absl::StrCat("tensor '", t->name,
                              "' is sharded differently from the program"));
  }
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
