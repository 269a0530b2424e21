//===- main.cc - main() of a compiled program (libpalmrt_main) ------------===//
//
// Linked after the object palm-compile emits, which defines these symbols.
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"

extern "C" {
extern const char palm_program_info[];
extern const int64_t palm_arena_bytes;
void palm_forward(void **buffers, void *arena, palmrt_context *ctx);
}

int main(int argc, char **argv) {
  return palmrt_main(argc, argv, palm_program_info, palm_arena_bytes,
                     palm_forward);
}
