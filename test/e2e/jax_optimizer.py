#!/usr/bin/env python3
"""PaLM's optimizer step as optax defines it, and N training steps of palm.

The oracle for the compiler's optimizer: optax (the version pinned by
scripts/jax-venv.sh, 0.2.4) configured as PaLM trained,

    optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adafactor(learning_rate=lr(k), factored=False, decay_rate=0.8,
                        multiply_by_parameter_scale=True,
                        clipping_threshold=1.0, momentum=0.9,
                        weight_decay_rate=lr(k)**2, eps=1e-30))

with lr(k) = 1 / sqrt(max(k, 1e4)), k the step counted from 1.

How lr(k) and lr(k)^2 are fed in. optax.adafactor takes a schedule for the
learning rate but only a number for weight_decay_rate (add_decayed_weights
multiplies by it as given). Neither transformation keeps state that depends
on them, so `step` rebuilds the chain at every step with the numbers lr(k)
and lr(k)^2 (passed as traced scalars into one jitted function) and feeds
it the state the previous step returned: the state's structure does not
depend on the values, and the step count that drives beta2 lives in the
state (adafactor's FactoredState.count = k - 1 before step k; `init(params,
k)` sets it, `step` checks it). test_jax_palm.py checks this against the
other faithful spelling, optax.inject_hyperparams(optax.adafactor) with
learning_rate and weight_decay_rate as schedules of the count.

The update optax computes, per parameter tensor W (its own g, v, m), at
step k = 1, 2, ... (c = k - 1 is the count in the state):

  1. global-norm clip, over every tensor:  n = sqrt(sum_all g^2);
         g <- g                 if n < 1   (strictly less)
         g <- (g / n) * 1.0     otherwise
  2. beta2 = 1 - k^(-0.8), computed in float32 (optax builds
     t = float32(c + 1)) even for f64 parameters; beta2 = 0 at k = 1.
  3. second moment (unfactored), eps inside, added to g^2 before the decay,
     v_0 = 0, stored in W's dtype:
         v <- beta2 * v + (1 - beta2) * (g^2 + 1e-30)
  4. u = g * v^(-1/2)           (no other epsilon anywhere)
  5. update clipping at RMS 1 (RMS over the whole tensor):
         u <- u / max(1, sqrt(mean(u^2)) / 1.0)
  6. learning rate:             u <- lr(k) * u
  7. parameter scale, W before this step:
         u <- u * s,  s = sqrt(mean(W^2)) if that is > 1e-3 else 1e-3
            (= max(1e-3, RMS(W)))
  8. momentum, no bias correction, m_0 = 0:
         m <- 0.9 * m + (1 - 0.9) * u      (optax: (1 - d) * u + d * m)
     the step uses this m; the state keeps it cast to the momentum dtype
     (optax's default float32; `init` here uses W's dtype, so f64 stays f64)
  9. weight decay, NOT multiplied by the learning rate again (the rate is
     lr(k)^2 itself), on W before this step:
         d = m + lr(k)^2 * W
 10. W <- W + (-1 * d)  = W - m - lr(k)^2 * W     (cast back to W's dtype)

So with a = lr(k) * max(1e-3, RMS(W)):  m <- 0.9 m + 0.1 a u_clipped,
W <- (1 - lr(k)^2) W - m, the t5x form in /work/shared/palm-facts.md; the
order (clip, lr, scale, momentum, decay) and the float32 beta2 matter only
for rounding. The first step has v = g^2 + 1e-30, so u = g / sqrt(g^2 +
1e-30), which is sign(g) unless |g| < ~1e-15.

AdamW (option "adamw"): optax.chain(clip_by_global_norm(1.0),
optax.adamw(schedule, b1, b2, eps, weight_decay)) with schedule =
optax.warmup_cosine_decay_schedule(0, peak, warmup, total, end), evaluated
by optax at the count c = k - 1 (linear warmup from 0 over `warmup` steps,
then cosine decay to `end` at `total`). optax's adamw decays by
lr * weight_decay * W (decoupled, multiplied by the learning rate).

Library:
    lr_schedule(k)                        1 / sqrt(max(k, 1e4))
    init(params, k=1, optimizer=...)      the state before step k
    step(params, grads, opt_state, k, optimizer=...) -> (params, opt_state)
    train(params, batches, config, ...)   -> (losses, params)
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax_palm  # noqa: E402  (enables jax_enable_x64)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402


def lr_schedule(k):
    """PaLM's learning rate at step k (from 1): 1e-2 up to 1e4, then
    1/sqrt(k)."""
    return 1.0 / math.sqrt(max(k, 1e4))


def palm_adafactor(lr, weight_decay=None, momentum_dtype=jnp.float32):
    """The chain for one step with learning rate lr and weight decay rate
    weight_decay (default lr^2), numbers or traced scalars."""
    if weight_decay is None:
        weight_decay = lr ** 2
    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adafactor(learning_rate=lr, factored=False, decay_rate=0.8,
                        multiply_by_parameter_scale=True,
                        clipping_threshold=1.0, momentum=0.9,
                        weight_decay_rate=weight_decay, eps=1e-30,
                        dtype_momentum=momentum_dtype))


class AdamW:
    """Options of the AdamW alternative (linear warmup + cosine decay)."""

    def __init__(self, peak=1e-3, warmup=100, total=10000, end=0.0,
                 b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1):
        self.peak, self.warmup, self.total, self.end = peak, warmup, total, end
        self.b1, self.b2, self.eps = b1, b2, eps
        self.weight_decay = weight_decay

    def schedule(self):
        return optax.warmup_cosine_decay_schedule(
            0.0, self.peak, self.warmup, self.total, self.end)

    def transform(self):
        return optax.chain(
            optax.clip_by_global_norm(1.0),
            optax.adamw(self.schedule(), b1=self.b1, b2=self.b2,
                        eps=self.eps, weight_decay=self.weight_decay))


def _momentum_dtype(params):
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.result_type(*leaves) if leaves else jnp.float32


def _set_counts(state, count):
    """The state with every `count` field (step counters) set to count."""
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        fields = {f: _set_counts(getattr(state, f), count)
                  for f in state._fields}
        if "count" in fields:
            fields["count"] = jnp.asarray(count, jnp.int32)
        return type(state)(**fields)
    if isinstance(state, (tuple, list)):
        return type(state)(_set_counts(s, count) for s in state)
    return state


def _counts(state):
    found = []
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        if "count" in state._fields:
            found.append(int(state.count))
        for f in state._fields:
            found += _counts(getattr(state, f))
    elif isinstance(state, (tuple, list)):
        for s in state:
            found += _counts(s)
    return found


def init(params, k=1, optimizer="adafactor"):
    """The optimizer state before step k (moments zero, counts k - 1)."""
    if optimizer == "adafactor":
        tx = palm_adafactor(lr_schedule(k),
                            momentum_dtype=_momentum_dtype(params))
    else:
        tx = optimizer.transform()
    return _set_counts(tx.init(params), k - 1)


@jax.jit
def _adafactor_step(params, grads, opt_state, lr, weight_decay):
    tx = palm_adafactor(lr, weight_decay, _momentum_dtype(params))
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def step(params, grads, opt_state, k, optimizer="adafactor"):
    """One optimizer step k (from 1): (new params, new state). params and
    grads are {name: array}; optimizer "adafactor" (PaLM's) or an AdamW."""
    counts = set(_counts(opt_state))
    if counts != {k - 1}:
        raise ValueError("optimizer state is at count %s, step %d needs %d"
                         % (sorted(counts), k, k - 1))
    if optimizer == "adafactor":
        dt = _momentum_dtype(params)
        lr = lr_schedule(k)
        # Both rounded once from float64, as optax rounds python numbers.
        return _adafactor_step(params, grads, opt_state, jnp.asarray(lr, dt),
                               jnp.asarray(lr * lr, dt))
    tx = optimizer.transform()
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def train(params, batches, config, k0=1, optimizer="adafactor", dtype=None):
    """Runs one step per (tokens, targets) in batches, the first being step
    k0. Returns ([loss before each step], final params as numpy)."""
    c = jax_palm.model_config(config)
    dt = jax_palm._compute_dtype(c, dtype)
    p = {n: jnp.asarray(params[n], dt) for n in jax_palm.param_shapes(c)}
    value_and_grad = jax_palm.value_and_grad_fn(config, dtype)
    state = init(p, k0, optimizer)
    losses = []
    for i, (tokens, targets) in enumerate(batches):
        jax_palm.check_inputs(p, tokens, targets, config)
        loss, g = value_and_grad(p, jnp.asarray(tokens, jnp.int32),
                                 jnp.asarray(targets, jnp.int32))
        losses.append(float(loss))
        p, state = step(p, g, state, k0 + i, optimizer)
    return losses, {n: np.asarray(v) for n, v in p.items()}
