// One case per verifier rule of the optimizer ops (-palm-optimizer builds
// them).
// RUN: palm-opt %s -split-input-file -verify-diagnostics

func.func @lr_schedule(%k: tensor<f32>) {
  // expected-error@+1 {{schedule must be "inverse_sqrt" or "warmup_cosine", got "constant"}}
  %lr = palm.learning_rate %k {schedule = "constant", peak = 1.0 : f32, warmup_steps = 1 : i64} : tensor<f32>
  return
}

// -----

func.func @lr_peak(%k: tensor<f32>) {
  // expected-error@+1 {{peak must be positive}}
  %lr = palm.learning_rate %k {schedule = "inverse_sqrt", peak = 0.0 : f32, warmup_steps = 1 : i64} : tensor<f32>
  return
}

// -----

func.func @lr_inverse_sqrt_warmup(%k: tensor<f32>) {
  // expected-error@+1 {{inverse_sqrt needs warmup_steps >= 1}}
  %lr = palm.learning_rate %k {schedule = "inverse_sqrt", peak = 1.0 : f32, warmup_steps = 0 : i64} : tensor<f32>
  return
}

// -----

func.func @lr_cosine_warmup(%k: tensor<f32>) {
  // expected-error@+1 {{warmup_steps must be non-negative}}
  %lr = palm.learning_rate %k {schedule = "warmup_cosine", peak = 1.0 : f32, warmup_steps = -1 : i64, total_steps = 10 : i64} : tensor<f32>
  return
}

// -----

func.func @lr_cosine_total(%k: tensor<f32>) {
  // expected-error@+1 {{warmup_cosine needs total_steps > warmup_steps}}
  %lr = palm.learning_rate %k {schedule = "warmup_cosine", peak = 1.0 : f32, warmup_steps = 10 : i64, total_steps = 10 : i64} : tensor<f32>
  return
}

// -----

func.func @lr_cosine_final(%k: tensor<f32>) {
  // expected-error@+1 {{final must lie in [0, peak]}}
  %lr = palm.learning_rate %k {schedule = "warmup_cosine", peak = 1.0 : f32, warmup_steps = 1 : i64, total_steps = 10 : i64, final = 2.0 : f32} : tensor<f32>
  return
}

// -----

func.func @moments_types(%g: tensor<8xf32>, %v: tensor<4xf32>, %s: tensor<f32>, %k: tensor<f32>) {
  // expected-error@+1 {{needs the parameter, its gradient and its optimizer state to have one type, got 'tensor<8xf32>' and 'tensor<4xf32>'}}
  %v1, %u = palm.adafactor_moments %g, %v, %s, %k : (tensor<8xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<f32>)
  return
}

// -----

func.func @moments_decay(%g: tensor<8xf32>, %v: tensor<8xf32>, %s: tensor<f32>, %k: tensor<f32>) {
  // expected-error@+1 {{decay_rate must be positive}}
  %v1, %u = palm.adafactor_moments %g, %v, %s, %k {decay_rate = 0.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<f32>)
  return
}

// -----

func.func @moments_epsilon(%g: tensor<8xf32>, %v: tensor<8xf32>, %s: tensor<f32>, %k: tensor<f32>) {
  // expected-error@+1 {{epsilon must be non-negative}}
  %v1, %u = palm.adafactor_moments %g, %v, %s, %k {epsilon = -1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<f32>)
  return
}

// -----

func.func @moments_max_norm(%g: tensor<8xf32>, %v: tensor<8xf32>, %s: tensor<f32>, %k: tensor<f32>) {
  // expected-error@+1 {{max_norm must be positive}}
  %v1, %u = palm.adafactor_moments %g, %v, %s, %k {max_norm = 0.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<f32>)
  return
}

// -----

func.func @moments_scalar(%g: tensor<8xf32>, %v: tensor<8xf32>, %s: tensor<1xf32>, %k: tensor<f32>) {
  // expected-error@+1 {{operand #2 must be 0D tensor of 32-bit float values}}
  %v1, %u = palm.adafactor_moments %g, %v, %s, %k : (tensor<8xf32>, tensor<8xf32>, tensor<1xf32>, tensor<f32>) -> (tensor<8xf32>, tensor<f32>)
  return
}

// -----

func.func @apply_types(%w: tensor<8xf32>, %g: tensor<8xf32>, %v: tensor<8xf32>, %m: tensor<8xbf16>, %s: tensor<f32>) {
  // expected-error@+1 {{needs the parameter, its gradient and its optimizer state to have one type, got 'tensor<8xf32>' and 'tensor<8xbf16>'}}
  %w1, %m1 = palm.adafactor_apply %w, %g, %v, %m, %s, %s, %s, %s {count = 8 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xbf16>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xbf16>)
  return
}

// -----

func.func @apply_count(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{count must be at least 1}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 0 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_beta1(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{beta1 must lie in [0, 1)}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 8 : i64, beta1 = 1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_clipping(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{clipping_threshold must be positive}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 8 : i64, clipping_threshold = 0.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_floor(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{scale_floor must be non-negative}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 8 : i64, scale_floor = -1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_max_norm(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{max_norm must be positive}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 8 : i64, max_norm = -1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_decay(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{weight_decay must be non-negative}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = 8 : i64, weight_decay = -1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_types(%w: tensor<8xf32>, %v: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{needs the parameter, its gradient and its optimizer state to have one type, got 'tensor<8xf32>' and 'tensor<4xf32>'}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %v, %s, %s, %s : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @adamw_beta1(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{beta1 must lie in [0, 1)}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %w, %s, %s, %s {beta1 = -0.5 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_beta2(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{beta2 must lie in [0, 1)}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %w, %s, %s, %s {beta2 = 1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_epsilon(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{epsilon must be non-negative}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %w, %s, %s, %s {epsilon = -1.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_max_norm(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{max_norm must be positive}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %w, %s, %s, %s {max_norm = 0.0 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_decay(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{weight_decay must be non-negative}}
  %w1, %m1, %v1 = palm.adamw_apply %w, %w, %w, %w, %s, %s, %s {weight_decay = -0.1 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @apply_negative_count(%w: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error@+1 {{count must be at least 1}}
  %w1, %m1 = palm.adafactor_apply %w, %w, %w, %w, %s, %s, %s, %s {count = -8 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}
