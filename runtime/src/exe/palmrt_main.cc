//===- palmrt_main.cc - palmrt_main: flags, the job, the program ----------===//
//
// The entry of every compiled program's executable (main.cc calls it):
// flags first, then MPI, then the program description, then the program.
//
//===----------------------------------------------------------------------===//

#include "exe/options.h"
#include "exe/program.h"
#include "io/program_info.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

using namespace palmrt;

extern "C" int palmrt_main(int argc, char **argv, const char *program_info,
                           int64_t arena_bytes, palmrt_entry_fn entry) {
  const char *argv0 = argc > 0 ? argv[0] : "model";
  auto options = parseFlags(argc, argv);
  if (!options.ok()) {
    printRankMessage("error", options.status().message());
    return 2;
  }
  if (options->help) {
    if (launcherRank() == 0)
      printUsage(argv0);
    return 0;
  }
  if (absl::Status s = startProcess(&argc, &argv); !s.ok()) {
    printRankMessage("error", s.message());
    return 1;
  }
  int rc;
  auto info = parseProgramInfo(program_info ? program_info : "");
  if (!info.ok()) {
    printRankMessage("error", info.status().message());
    rc = 1;
  } else {
    rc = Program(*info, *options, arena_bytes, entry, argv0).run();
  }
  finishProcess();
  return rc;
}
