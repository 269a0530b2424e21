// A loss over i64 targets, which the runtime does not take: the refusal
// names the op by its name location.
func.func @forward(%l: tensor<3x8xf32> {palm.name = "logits", palm.init = #palm.init<normal(1.0)>},
                   %t: tensor<3xi64> {palm.name = "targets"}) -> tensor<f32> {
  %0 = palm.cross_entropy %l, %t : (tensor<3x8xf32>, tensor<3xi64>) -> tensor<f32> loc("loss")
  return %0 : tensor<f32>
}
