//===- Link.h - an object file and the runtime to an executable -*- C++ -*-===//

#ifndef PALM_COMPILE_LINK_H
#define PALM_COMPILE_LINK_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/LogicalResult.h"

#include <string>
#include <vector>

namespace mlir::palm {

/// The runtime's link arguments: the build writes them, one line separated
/// by spaces, to palmrt-link.txt (palmrt-link-cuda.txt for cuda) in its
/// lib/ directory. Reads `linkFile`, or when it is empty that file in
/// `<dir of mainExecutable>/../lib`. Relative paths in the file name files
/// beside it. Fails with a message in `error`.
llvm::FailureOr<std::vector<std::string>>
readLinkArguments(llvm::StringRef linkFile, llvm::StringRef mainExecutable,
                  bool cuda, std::string &error);

/// Links `object` with `linkArguments` into the executable `output` with
/// the C++ compiler palm was built with. Fails with a message in `error`.
llvm::LogicalResult linkExecutable(llvm::StringRef object,
                                   llvm::StringRef output,
                                   const std::vector<std::string> &linkArguments,
                                   std::string &error);

} // namespace mlir::palm

#endif // PALM_COMPILE_LINK_H
