//===- PalmAttrs.h - palm attributes ----------------------------*- C++ -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMATTRS_H
#define PALM_DIALECT_PALM_IR_PALMATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"

#define GET_ATTRDEF_CLASSES
#include "palm/Dialect/Palm/IR/PalmAttrs.h.inc"

#endif // PALM_DIALECT_PALM_IR_PALMATTRS_H
