// A module without palm ops (what a failed palm-gen leaves in a pipe) goes
// through the pipeline: it becomes an empty local module, never a crash.
// RUN: palm-opt %s -palm-spmd-pipeline | FileCheck %s
// RUN: echo "" | palm-opt -palm-spmd-pipeline | FileCheck %s

// CHECK: module attributes {palm.level = #palm.level<local>}
module {
}
