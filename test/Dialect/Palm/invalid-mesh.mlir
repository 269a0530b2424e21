// One case per verifier rule of palm.mesh.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

// expected-error@+1 {{needs at least one axis}}
palm.mesh @empty()

// -----

// expected-error@+1 {{axis 'data' is declared twice}}
palm.mesh @twice(data = 2, data = 4)

// -----

// expected-error@+1 {{axis 'data' has size 0; sizes must be at least 1}}
palm.mesh @zero(data = 0)

// -----

// expected-error@+1 {{axis 'model' has size -2; sizes must be at least 1}}
palm.mesh @negative(data = 2, model = -2)

// -----

// expected-error@+1 {{axis name '1st' is not an identifier}}
palm.mesh @bad_name("1st" = 2)

// -----

// expected-error@+1 {{axis name 'two words' is not an identifier}}
palm.mesh @space("two words" = 2)

// -----

// expected-error@+1 {{has more devices than fit in 63 bits}}
palm.mesh @huge(a = 4294967296, b = 4294967296)

// -----

// expected-error@+1 {{has 2 axis names but 1 sizes}}
"palm.mesh"() <{sym_name = "generic", axis_names = ["a", "b"], shape = array<i64: 2>}> : () -> ()

// -----

func.func @nested() {
  // expected-error@+1 {{expects parent op 'builtin.module'}}
  palm.mesh @inner(data = 2)
  return
}
