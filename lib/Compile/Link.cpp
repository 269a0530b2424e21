//===- Link.cpp - an object file and the runtime to an executable ---------===//
//
// The runtime's build writes its link line into a file rather than into
// palm-compile, so the same palm-compile links against a build tree or an
// installed tree, with whatever libraries the runtime was configured with.
//
//===----------------------------------------------------------------------===//

#include "palm/Compile/Link.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <optional>

using namespace llvm;

FailureOr<std::vector<std::string>>
mlir::palm::readLinkArguments(StringRef linkFile, StringRef mainExecutable,
                              bool cuda, std::string &error) {
  std::string path = linkFile.str();
  if (path.empty()) {
    SmallString<256> p(sys::path::parent_path(mainExecutable));
    sys::path::append(p, "..", "lib",
                      cuda ? "palmrt-link-cuda.txt" : "palmrt-link.txt");
    path = std::string(p);
  }
  auto buffer = MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "cannot read the runtime's link arguments from '" + path + "': " +
            (cuda ? "this build has no cuda runtime (it needs the CUDA "
                    "toolkit at configure time)"
                  : "build the runtime (it writes that file)") +
            ", or pass --runtime-link";
    return failure();
  }
  // A relative path names a file beside the link file (an installed tree
  // can move); flags and absolute paths are used as they are.
  StringRef dir = sys::path::parent_path(path);
  std::vector<std::string> args;
  SmallVector<StringRef> parts;
  (*buffer)->getBuffer().split(parts, ' ', -1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    if (part.starts_with("-") || sys::path::is_absolute(part)) {
      args.push_back(part.str());
      continue;
    }
    SmallString<256> resolved(dir);
    sys::path::append(resolved, part);
    args.push_back(std::string(resolved));
  }
  return args;
}

LogicalResult
mlir::palm::linkExecutable(StringRef object, StringRef output,
                           const std::vector<std::string> &linkArguments,
                           std::string &error) {
  // Executables are linked by the C++ compiler palm itself is built with,
  // which knows the C++ runtime palmrt needs.
  std::string linker = PALM_LINKER;
  std::vector<StringRef> args = {linker, object, "-o", output};
  for (const std::string &a : linkArguments)
    args.push_back(a);
  std::string linkError;
  int status =
      sys::ExecuteAndWait(linker, args, std::nullopt, {}, 0, 0, &linkError);
  if (status == 0)
    return success();
  error = "linking with " + linker + " failed" +
          (linkError.empty() ? "" : ": " + linkError);
  return failure();
}
