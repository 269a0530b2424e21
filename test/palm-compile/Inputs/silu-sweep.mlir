// One fusion of silu over 4096 values, for cpu-exp.test.
module attributes {palm.level = #palm.level<local>} {
  func.func @f(%x: tensor<4096xf32>) -> tensor<4096xf32> {
    %0 = palm.silu %x : tensor<4096xf32>
    return %0 : tensor<4096xf32>
  }
}
