//===- Passes.td - palm conversion passes -------------------*- tablegen -*-===//

#ifndef PALM_CONVERSION_PASSES_TD
#define PALM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def PalmLowerToRuntime : Pass<"palm-lower-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lowers a local palm program to loops and palmrt calls";
  let description = [{
    Turns the one function of a local-level module into the entry point the
    runtime calls (docs/runtime-abi.md):

    ```
    func.func @palm_forward(%buffers: !llvm.ptr, %arena: !llvm.ptr,
                            %ctx: !llvm.ptr)
    ```

    plus the globals `palm_program_info` (the program description) and
    `palm_arena_bytes`. Arguments and results are read from `%buffers`.

    * Chains of elementwise ops (`add`, `mul`, `silu`, `scale`, `convert`)
      become one fused loop (`scf.for` with `arith`/`math` on loaded
      elements): an elementwise result used once, by another elementwise op,
      is never stored.
    * GEMMs (`dot_general`, after transposing operands into
      `[batch, m, k] x [batch, k, n]` form where needed) call `palmrt_gemm`;
      layer norm, RoPE, attention, the embedding lookup, the softmax and
      loss pieces, padding masks and data movement call palmrt kernels;
      collectives call palmrt collectives naming a communicator group.
    * Shard offsets (`#palm.dim_shard`) are computed from
      `palmrt_group_index`.
    * Every intermediate value lives in one arena at an offset planned from
      liveness (the smaller of first fit and largest-first best fit,
      256-byte aligned), so memory is reused across
      layers; `palm.reshape` is a view and costs nothing.

    The result uses `func`, `scf`, `arith`, `math` and `llvm` ops only;
    `-palm-lower-to-llvm` continues to the LLVM dialect.

    With `target=cuda` the buffers and the arena are device memory: the
    elementwise chains, layer norm, RoPE, the embedding lookup, the softmax
    and loss pieces and data movement become generated kernels (`gpu.func`
    in `gpu.module @palm_kernels`, one per distinct shape of work, written
    for any grid size) launched through `palmrt_launch`; GEMMs (f32 or bf16)
    call `palmrt_gemm` (cuBLASLt), attention `palmrt_attention` (a fused
    kernel), collectives palmrt (NCCL). `-palm-embed-gpu-kernels` later
    replaces the kernel module by its PTX.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "cpu, or cuda for device buffers and generated GPU kernels">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::func::FuncDialect"];
}

def PalmFuseElementwise : Pass<"palm-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Groups elementwise chains into palm.fusion ops";
  let description = [{
    The first step of `-palm-lower-to-runtime`, also available alone: an
    elementwise result (`add`, `mul`, `silu`, `scale`, `convert`) read once,
    by another elementwise op, is computed inside its consumer and never
    stored. Each elementwise op that is not so inlined roots one
    `palm.fusion` holding the tree of inlined ops under it:

    ```mlir
    %0 = palm.add %a, %b : tensor<8xf32>
    %1 = palm.silu %0 : tensor<8xf32>
    ```

    becomes

    ```mlir
    %1 = palm.fusion(%a, %b) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
    ^bb0(%x: tensor<8xf32>, %y: tensor<8xf32>):
      %0 = palm.add %x, %y : tensor<8xf32>
      %2 = palm.silu %0 : tensor<8xf32>
      palm.yield %2 : tensor<8xf32>
    }
    ```

    The inputs are the tree's other operands in order of first use (depth
    first, in operand order). The lowering computes each fusion in one loop
    (CPU) or one kernel (CUDA). Needs a local-level module.
  }];
  let dependentDialects = ["::mlir::palm::PalmDialect"];
}

def PalmEmbedGpuKernels : Pass<"palm-embed-gpu-kernels", "::mlir::ModuleOp"> {
  let summary = "Replaces the compiled kernel module by a global holding its PTX";
  let description = [{
    After `gpu-module-to-binary{format=isa}`, the module holds a
    `gpu.binary @palm_kernels` whose object is PTX text. This pass writes
    that text into the global `__palm_gpu_image` the launches of
    `-palm-lower-to-runtime{target=cuda}` point at, and erases the binary,
    so the host program carries its kernels.
  }];
}

#endif // PALM_CONVERSION_PASSES_TD
