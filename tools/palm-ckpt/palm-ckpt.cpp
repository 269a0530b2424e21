//===- palm-ckpt.cpp - checkpoints in and out of the ecosystem -------------===//
//
// palm-ckpt export SRC -o OUT.safetensors [--max-file-bytes N] [--all]
//   Consolidates the parameters of a checkpoint (a --checkpoint-dir, whose
//   `latest` is taken, or one step-NNNNNNNN directory of it) or of a
//   --save-weights directory into global tensors in standard safetensors:
//   one file, or, with --max-file-bytes, OUT-00001-of-0000K.safetensors ...
//   plus OUT.index.json mapping each tensor to its file. --all exports the
//   optimizer state too.
// palm-ckpt import IN.safetensors|IN.index.json -o DIR
//   Writes the tensors of a safetensors file (or of the files an index maps)
//   as a --weights directory of one device, which a program on any mesh
//   reads (re-partitioned on load).
// palm-ckpt verify SRC
//   Checks every file of a checkpoint against its checksum.
//
//===----------------------------------------------------------------------===//

#include "base/file_util.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/shards.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace palmrt {
namespace {

constexpr const char kUsage[] =
    R"(usage: palm-ckpt export SRC -o OUT.safetensors [--max-file-bytes N] [--all]
       palm-ckpt import IN.safetensors|IN.index.json -o DIR
       palm-ckpt verify SRC

SRC is a --checkpoint-dir (its latest checkpoint), one step-NNNNNNNN
directory of it, or a --save-weights directory.

  export  consolidates SRC's parameters (with --all also the optimizer state)
          into global tensors in standard safetensors files: one file, or
          with --max-file-bytes N files of at most N bytes of tensor data
          (OUT-00001-of-0000K.safetensors ...) and OUT.index.json mapping
          each tensor to its file
  import  writes the tensors of IN (a safetensors file, or an index mapping
          tensors to files) as a --weights directory DIR of one device;
          programs on any mesh read it (re-partitioned on load)
  verify  checks every file of the checkpoint against its crc32
)";

/// A shard set found from a user's path: the directory and its prefix.
struct Source {
  std::string dir, prefix;
};

absl::StatusOr<Source> findSource(const std::string &path) {
  for (const char *prefix : {"checkpoint", "weights"})
    if (pathExists(joinPath(path, absl::StrCat(prefix, ".index.json"))))
      return Source{path, prefix};
  if (absl::StatusOr<std::string> latest = readFile(joinPath(path, "latest"));
      latest.ok()) {
    std::string dir =
        joinPath(path, std::string(absl::StripAsciiWhitespace(*latest)));
    if (pathExists(joinPath(dir, "checkpoint.index.json")))
      return Source{dir, "checkpoint"};
    return absl::NotFoundError(
        absl::StrCat(path, "/latest names ", dir, ", which has no index"));
  }
  return absl::NotFoundError(absl::StrCat(
      path, ": neither a checkpoint (checkpoint.index.json, or 'latest') nor "
            "a --save-weights directory (weights.index.json)"));
}

/// The index of the shard set `path` names.
absl::StatusOr<ShardIndex> openSource(const std::string &path) {
  absl::StatusOr<Source> source = findSource(path);
  if (!source.ok())
    return source.status();
  return readShardIndex(source->dir, source->prefix);
}

/// A tensor as a program of one device holds it: the global shape, nothing
/// split.
TensorSpec wholeTensor(TensorKind kind, const std::string &name, int32_t dtype,
                       const std::vector<int64_t> &shape) {
  TensorSpec t;
  t.kind = kind;
  t.name = name;
  t.dtype = static_cast<palmrt_dtype>(dtype);
  t.globalShape = shape;
  t.localShape = shape;
  t.sharding.assign(shape.size(), {});
  return t;
}

/// The saved tensors (the parameters, or with `all` every one) whole.
std::vector<TensorSpec> globalSpecs(const ShardIndex &index, bool all) {
  std::vector<TensorSpec> specs;
  for (const auto &[name, e] : index.tensors)
    if (all || e.kind.empty() || e.kind == "param")
      specs.push_back(wholeTensor(
          e.kind == "state" ? TensorKind::State : TensorKind::Param, name,
          e.dtype, e.globalShape));
  return specs;
}

absl::Status exportCommand(const std::string &src, const std::string &out,
                           int64_t maxFileBytes, bool all) {
  absl::StatusOr<ShardIndex> index = openSource(src);
  if (!index.ok())
    return index.status();
  ProgramInfo one; // a mesh without axes: one device holding everything
  std::vector<TensorSpec> specs = globalSpecs(*index, all);
  if (specs.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(index->path, ": no parameter to export"));
  // Files of at most maxFileBytes of data (a larger tensor gets its own).
  std::vector<std::vector<size_t>> files(1);
  int64_t bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    int64_t b = specs[i].localBytes();
    if (maxFileBytes > 0 && !files.back().empty() &&
        bytes + b > maxFileBytes) {
      files.emplace_back();
      bytes = 0;
    }
    files.back().push_back(i);
    bytes += b;
  }
  std::string stem(out);
  if (absl::EndsWith(stem, ".safetensors"))
    stem.resize(stem.size() - std::string(".safetensors").size());
  // Checkpoints carry checksums; --save-weights directories do not.
  bool checksummed = absl::EndsWith(index->path, "checkpoint.index.json");
  std::string weightMap;
  int64_t total = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    std::vector<const TensorSpec *> tensors;
    std::vector<std::unique_ptr<char[]>> memory;
    std::vector<void *> buffers;
    for (size_t i : files[f]) {
      tensors.push_back(&specs[i]);
      memory.emplace_back(new char[specs[i].localBytes()]);
      buffers.push_back(memory.back().get());
      total += specs[i].localBytes();
    }
    if (absl::Status s =
            readShards(*index, one, 0, tensors, buffers, checksummed);
        !s.ok())
      return s;
    std::string path =
        files.size() == 1
            ? out
            : absl::StrFormat("%s-%05d-of-%05d.safetensors", stem, f + 1,
                              files.size());
    std::vector<TensorView> views;
    for (size_t k = 0; k < tensors.size(); ++k) {
      views.push_back({tensors[k]->name, tensors[k]->dtype,
                       tensors[k]->globalShape, buffers[k]});
      absl::StrAppend(&weightMap, weightMap.empty() ? "" : ",", "\n    ",
                      jsonQuote(tensors[k]->name), ": ",
                      jsonQuote(path.substr(path.find_last_of('/') + 1)));
    }
    std::vector<std::pair<std::string, std::string>> metadata = {
        {"format", "pt"}, {"source", index->path}};
    if (absl::Status s = writeSafetensors(path, views, metadata); !s.ok())
      return s;
    std::printf("palm-ckpt: wrote %s (%zu tensors)\n", path.c_str(),
                tensors.size());
  }
  if (files.size() > 1) {
    std::string indexPath = stem + ".index.json";
    if (absl::Status s = writeFileAtomically(
            indexPath,
            absl::StrCat("{\n  \"metadata\": {\"total_size\": ", total,
                         "},\n  \"weight_map\": {", weightMap, "\n  }\n}\n"));
        !s.ok())
      return s;
    std::printf("palm-ckpt: wrote %s\n", indexPath.c_str());
  }
  return absl::OkStatus();
}

absl::Status importCommand(const std::string &in, const std::string &dir) {
  // The files: IN itself, or every file an index's weight_map names.
  std::vector<std::string> paths;
  if (absl::EndsWith(in, ".json")) {
    absl::StatusOr<std::string> text = readFile(in);
    if (!text.ok())
      return text.status();
    absl::StatusOr<Json> json = parseJson(*text);
    if (!json.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(in, ": ", json.status().message()));
    JsonNode root(*json, in);
    absl::StatusOr<JsonNode> map = root.get("weight_map");
    if (!map.ok())
      return map.status();
    absl::StatusOr<std::vector<std::pair<std::string, JsonNode>>> members =
        map->members();
    if (!members.ok())
      return members.status();
    std::string base = in.substr(0, in.find_last_of('/') + 1);
    for (const auto &[name, file] : *members) {
      absl::StatusOr<std::string> f = file.string();
      if (!f.ok())
        return f.status();
      if (f->find('/') != std::string::npos)
        return file.error("a file name beside the index, without '/'");
      std::string path = base + *f;
      if (std::find(paths.begin(), paths.end(), path) == paths.end())
        paths.push_back(path);
    }
  } else {
    paths.push_back(in);
  }
  std::vector<TensorSpec> specs;
  std::vector<std::unique_ptr<char[]>> memory;
  for (const std::string &path : paths) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::open(path);
    if (!file.ok())
      return file.status();
    for (const auto &[name, e] : (*file)->entries()) {
      for (const TensorSpec &t : specs)
        if (t.name == name)
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": tensor '", name, "' appears twice"));
      TensorSpec t = wholeTensor(TensorKind::Param, name, e.dtype, e.shape);
      memory.emplace_back(new char[std::max<int64_t>(t.localBytes(), 1)]);
      if (absl::Status s =
              (*file)->read(name, e.dtype, e.shape, memory.back().get());
          !s.ok())
        return s;
      specs.push_back(std::move(t));
    }
  }
  if (specs.empty())
    return absl::InvalidArgumentError(absl::StrCat(in, ": no tensors"));
  ProgramInfo one;
  std::vector<const TensorSpec *> tensors;
  std::vector<const void *> buffers;
  for (size_t i = 0; i < specs.size(); ++i) {
    tensors.push_back(&specs[i]);
    buffers.push_back(memory[i].get());
  }
  if (absl::Status s = writeShards(dir, "weights", one, 0, tensors, buffers,
                                   absl::StrCat("\"imported\": ",
                                                jsonQuote(in)));
      !s.ok())
    return s;
  std::printf("palm-ckpt: wrote %s/weights.index.json (%zu tensors); run a "
              "program with --weights %s\n",
              dir.c_str(), specs.size(), dir.c_str());
  return absl::OkStatus();
}

absl::Status verifyCommand(const std::string &src) {
  absl::StatusOr<ShardIndex> index = openSource(src);
  if (!index.ok())
    return index.status();
  for (int64_t f = 0; f < index->numDevices(); ++f)
    if (absl::Status s = verifyShardFile(*index, f); !s.ok())
      return s;
  std::printf("palm-ckpt: %s: %lld files match their checksums\n",
              index->path.c_str(), static_cast<long long>(index->numDevices()));
  return absl::OkStatus();
}

int run(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("%s", kUsage);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0], input, output;
  int64_t maxFileBytes = 0;
  bool all = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string &a = args[i];
    auto value = [&](std::string *out) {
      if (i + 1 >= args.size())
        return false;
      *out = args[++i];
      return true;
    };
    std::string text;
    if (a == "-o") {
      if (!value(&output)) {
        std::fprintf(stderr, "palm-ckpt: error: -o needs a path\n");
        return 2;
      }
    } else if (a == "--max-file-bytes" && command == "export") {
      if (!value(&text) || !absl::SimpleAtoi(text, &maxFileBytes) ||
          maxFileBytes <= 0) {
        std::fprintf(stderr, "palm-ckpt: error: --max-file-bytes wants a "
                             "positive number of bytes\n");
        return 2;
      }
    } else if (a == "--all" && command == "export") {
      all = true;
    } else if (!a.empty() && a[0] != '-' && input.empty()) {
      input = a;
    } else {
      std::fprintf(stderr, "palm-ckpt: error: unexpected '%s' (see --help)\n",
                   a.c_str());
      return 2;
    }
  }
  absl::Status s;
  if ((command == "export" || command == "import") &&
      (input.empty() || output.empty())) {
    std::fprintf(stderr, "palm-ckpt: error: %s needs an input and -o OUT\n",
                 command.c_str());
    return 2;
  }
  if (command == "export")
    s = exportCommand(input, output, maxFileBytes, all);
  else if (command == "import")
    s = importCommand(input, output);
  else if (command == "verify" && !input.empty() && output.empty())
    s = verifyCommand(input);
  else {
    std::fprintf(stderr, "palm-ckpt: error: unknown command '%s' (see "
                         "--help)\n",
                 command.c_str());
    return 2;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "palm-ckpt: error: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

} // namespace
} // namespace palmrt

int main(int argc, char **argv) { return palmrt::run(argc, argv); }
