//===- PalmDialect.h - palm dialect -----------------------------*- C++ -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMDIALECT_H
#define PALM_DIALECT_PALM_IR_PALMDIALECT_H

#include "mlir/IR/Dialect.h"

#include "palm/Dialect/Palm/IR/PalmEnums.h.inc"

#include "palm/Dialect/Palm/IR/PalmDialect.h.inc"

#endif // PALM_DIALECT_PALM_IR_PALMDIALECT_H
