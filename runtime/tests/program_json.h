//===- program_json.h - program descriptions for the tests ------*- C++ -*-===//
//
// Tests describe their programs in the JSON of docs/runtime-abi.md; these
// write the parts every test repeats (the header, the mesh, the groups).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_PROGRAM_JSON_H
#define PALMRT_TESTS_PROGRAM_JSON_H

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <string>
#include <utility>
#include <vector>

namespace palmrt {

/// `axes` ({{"data", 2}, ...}) as the description's "mesh" value.
inline std::string
meshJson(const std::vector<std::pair<std::string, int64_t>> &axes) {
  std::vector<std::string> items;
  for (const auto &[name, size] : axes)
    items.push_back(
        absl::StrCat("{\"name\":\"", name, "\",\"size\":", size, "}"));
  return absl::StrCat("{\"axes\":[", absl::StrJoin(items, ","), "]}");
}

/// A list of axis-name lists (groups, or a sharding) as JSON.
inline std::string
axisListsJson(const std::vector<std::vector<std::string>> &lists) {
  std::vector<std::string> items;
  for (const auto &axes : lists) {
    std::vector<std::string> quoted;
    for (const std::string &a : axes)
      quoted.push_back(absl::StrCat("\"", a, "\""));
    items.push_back(absl::StrCat("[", absl::StrJoin(quoted, ","), "]"));
  }
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

/// A whole description; `args` and `results` are JSON arrays.
inline std::string
programJson(const std::vector<std::pair<std::string, int64_t>> &axes,
            const std::vector<std::vector<std::string>> &groups,
            const std::string &target = "cpu", const std::string &args = "[]",
            const std::string &results = "[]") {
  return absl::StrCat(
      "{\"format\":\"palm-program\",\"version\":2,\"target\":\"", target,
      "\",\"mesh\":", meshJson(axes), ",\"groups\":", axisListsJson(groups),
      ",\"args\":", args, ",\"results\":", results, "}");
}

} // namespace palmrt

#endif // PALMRT_TESTS_PROGRAM_JSON_H
