// Input of exit-code.test.
palm.mesh @mesh(data = 2)

func.func @f(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[pipe]]>}) {
  return
}
