// RUN: palm-opt %s -verify-diagnostics -palm-optimize-collectives
// RUN: not palm-opt %s -palm-collective-report=format=yaml 2>&1 | FileCheck %s

// CHECK: error: format must be 'text' or 'json', not 'yaml'
// expected-error@+1 {{palm-optimize-collectives runs on local-level modules; run -palm-spmd-partition first}}
module {
}
