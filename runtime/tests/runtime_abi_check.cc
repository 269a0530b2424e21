//===- runtime_abi_check.cc - palmrt_calls.def vs palmrt.h ----------------===//
//
// The compiler declares the runtime calls it emits from palmrt_calls.def.
// This file compiles only if every entry of that table has exactly the type
// of the function palmrt.h declares (parameter for parameter, const
// included), and its test fails if palmrt.h declares a call compiled code
// could make that the table lacks, or the table names one palmrt.h lacks.
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>

namespace {

#define PALMRT_CALL(name, result, ...)                                         \
  static_assert(std::is_same_v<decltype(&name), result (*)(__VA_ARGS__)>,    \
                #name " in palmrt_calls.def differs from palmrt.h");
#include "palmrt/palmrt_calls.def"

std::set<std::string> tableNames() {
  std::set<std::string> names;
#define PALMRT_CALL(name, result, ...) names.insert(#name);
#include "palmrt/palmrt_calls.def"
  return names;
}

// Every function palmrt.h declares, but for palmrt_main (the executable's
// entry, which compiled code never calls).
std::set<std::string> headerNames() {
  std::ifstream in(PALMRT_HEADER);
  std::stringstream text;
  text << in.rdbuf();
  std::string source = text.str();
  std::set<std::string> names;
  // A declaration starts a line with its result type, then the name.
  std::regex declaration(R"((?:^|\n)(?:void|int|int64_t) +(palmrt_\w+)\()");
  for (std::sregex_iterator it(source.begin(), source.end(), declaration), end;
       it != end; ++it)
    if ((*it)[1] != "palmrt_main")
      names.insert((*it)[1]);
  return names;
}

TEST(RuntimeAbi, TableListsEveryCallOfTheHeader) {
  std::set<std::string> header = headerNames();
  ASSERT_GT(header.size(), 20u) << "could not read " << PALMRT_HEADER;
  EXPECT_EQ(tableNames(), header);
}

} // namespace
