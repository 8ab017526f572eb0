//! L-BFGS (Nocedal 1980; Liu & Nocedal 1989), iteration for iteration as `torch.optim.LBFGS` computes it:
//! the same two-loop recursion over the last `history` curvature pairs, the same first step
//! (`lr * min(1, 1 / |g|_1)`), the same stopping tests, and either a fixed step (`line_search_fn=None`)
//! or the same strong-Wolfe line search with cubic interpolation (`line_search_fn="strong_wolfe"`).
//!
//! It minimizes one flat `f32` vector through a closure that returns the loss and its gradient, so it
//! fits anything: an image in style transfer (`x` is the image's pixels, the closure runs the network
//! forward and backward), or a test function. Dot products accumulate in f64; the vectors stay f32, as
//! PyTorch keeps them for an f32 parameter.
//!
//! Gatys et al. (2016) optimize the image with L-BFGS; it needs no learning rate tuned to the loss's
//! scale, which is why style transfer prefers it to Adam. `tests/lbfgs_pytorch.rs` replays PyTorch's
//! iterates on the Rosenbrock function.

use std::collections::VecDeque;

use crate::{Error, Result};

/// How each iteration picks its step length along the search direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineSearch {
    /// `lr` (the first iteration scaled down by the gradient's size), one evaluation per iteration.
    #[default]
    None,
    /// Strong Wolfe conditions (`c1 = 1e-4`, `c2 = 0.9`), at most `max_line_search` evaluations.
    StrongWolfe,
}

/// The settings; `Default` is PyTorch's.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LbfgsConfig {
    /// The step's scale: with a line search, its first trial; without, the step taken.
    pub lr: f64,
    /// Curvature pairs kept (memory: `2 * history` vectors the size of `x`).
    pub history: usize,
    /// Stop when the largest gradient component is at most this.
    pub tolerance_grad: f64,
    /// Stop when the loss or the step changes less than this.
    pub tolerance_change: f64,
    /// Strong Wolfe line search or a fixed step.
    pub line_search: LineSearch,
    /// Evaluations one line search may spend.
    pub max_line_search: usize,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            history: 100,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            line_search: LineSearch::None,
            max_line_search: 25,
        }
    }
}

/// Why [`minimize`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// It ran the iterations it was given.
    Iterations,
    /// It ran out of evaluations.
    Evaluations,
    /// The gradient vanished (`tolerance_grad`).
    Gradient,
    /// The loss or the step stopped changing (`tolerance_change`), or the direction is no longer downhill.
    Stalled,
}

/// One finished iteration, as [`minimize`] reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Iteration {
    /// Counting from 1.
    pub iteration: usize,
    /// The loss at the new point; `None` after the last iteration without a line search, where PyTorch
    /// does not evaluate it either.
    pub loss: Option<f64>,
    /// The step length taken along the direction.
    pub step: f64,
    /// Evaluations so far, the first one included.
    pub evaluations: usize,
}

/// What [`minimize`] found.
#[derive(Clone, Debug)]
pub struct Minimum {
    /// The point reached.
    pub x: Vec<f32>,
    /// The first loss, at the starting point.
    pub start_loss: f64,
    /// The last loss evaluated (at `x`, except after a last fixed-step iteration: see [`Iteration::loss`]).
    pub last_loss: f64,
    /// Iterations done.
    pub iterations: usize,
    /// Loss-and-gradient evaluations done (the costly part).
    pub evaluations: usize,
    /// Why it stopped.
    pub stop: Stop,
}

impl LbfgsConfig {
    fn check(&self) -> Result<()> {
        let bad = |what: &str, value: String, want: &str| Err(Error::invalid(what, value, want));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(
                "L-BFGS learning rate",
                self.lr.to_string(),
                "a positive number",
            );
        }
        if self.history == 0 {
            return bad("L-BFGS history", "0".into(), "at least 1 pair");
        }
        if self.line_search == LineSearch::StrongWolfe && self.max_line_search == 0 {
            return bad("L-BFGS line search evaluations", "0".into(), "at least 1");
        }
        Ok(())
    }
}

/// Minimizes `objective` (x -> (loss, gradient)) from `x` for at most `max_iter` iterations and
/// `max_eval` evaluations (PyTorch's default is `max_iter * 5 / 4`), calling `on_iteration` after each
/// iteration with the new point. A non-finite loss stops it with [`Error::NonFiniteObjective`]; an
/// error from either closure stops it and is returned.
pub fn minimize(
    mut x: Vec<f32>,
    config: &LbfgsConfig,
    max_iter: usize,
    max_eval: usize,
    mut objective: impl FnMut(&[f32]) -> Result<(f64, Vec<f32>)>,
    mut on_iteration: impl FnMut(&Iteration, &[f32]) -> Result<()>,
) -> Result<Minimum> {
    config.check()?;
    let mut evaluations = 0usize;
    let mut evaluate = |x: &[f32]| -> Result<(f64, Vec<f32>)> {
        evaluations += 1;
        let (loss, grad) = objective(x)?;
        if !loss.is_finite() {
            return Err(Error::NonFiniteObjective {
                evaluation: evaluations,
                value: loss,
            });
        }
        if grad.len() != x.len() {
            return Err(Error::invalid(
                "L-BFGS gradient length",
                grad.len(),
                format!("{}, the length of x", x.len()),
            ));
        }
        Ok((loss, grad))
    };
    let (mut loss, mut grad) = evaluate(&x)?;
    let mut evals_used = 1;
    let start_loss = loss;
    let done = |stop, x, loss, iterations, evaluations| Minimum {
        x,
        start_loss,
        last_loss: loss,
        iterations,
        evaluations,
        stop,
    };
    if max_abs(&grad) <= config.tolerance_grad {
        return Ok(done(Stop::Gradient, x, loss, 0, evals_used));
    }

    let mut steps: VecDeque<Vec<f32>> = VecDeque::new(); // s_k = x_{k+1} - x_k
    let mut changes: VecDeque<Vec<f32>> = VecDeque::new(); // y_k = g_{k+1} - g_k
    let mut rho: VecDeque<f64> = VecDeque::new(); // 1 / (y_k . s_k)
    let mut h_diag = 1.0f64;
    let mut d: Vec<f32> = Vec::new();
    let mut t = 0.0f64;
    let mut prev_grad: Vec<f32> = Vec::new();
    let mut alpha = vec![0f64; config.history];
    let mut stop = Stop::Iterations;
    let mut n_iter = 0;
    while n_iter < max_iter {
        n_iter += 1;
        if n_iter == 1 {
            d = grad.iter().map(|g| -g).collect();
        } else {
            // The curvature pair of the last step, kept only where it keeps the Hessian estimate positive.
            let y: Vec<f32> = grad.iter().zip(&prev_grad).map(|(a, b)| a - b).collect();
            let s: Vec<f32> = d.iter().map(|v| v * t as f32).collect();
            let ys = dot(&y, &s);
            if ys > 1e-10 {
                if steps.len() == config.history {
                    steps.pop_front();
                    changes.pop_front();
                    rho.pop_front();
                }
                h_diag = ys / dot(&y, &y);
                steps.push_back(s);
                changes.push_back(y);
                rho.push_back(1.0 / ys);
            }
            // The two-loop recursion: d = -H g.
            let mut q: Vec<f32> = grad.iter().map(|g| -g).collect();
            for i in (0..steps.len()).rev() {
                alpha[i] = dot(&steps[i], &q) * rho[i];
                axpy(-alpha[i], &changes[i], &mut q);
            }
            q.iter_mut()
                .for_each(|v| *v = (f64::from(*v) * h_diag) as f32);
            for i in 0..steps.len() {
                let beta = dot(&changes[i], &q) * rho[i];
                axpy(alpha[i] - beta, &steps[i], &mut q);
            }
            d = q;
        }
        prev_grad.clone_from(&grad);
        let prev_loss = loss;
        t = if n_iter == 1 {
            (1.0 / sum_abs(&grad)).min(1.0) * config.lr
        } else {
            config.lr
        };
        let gtd = dot(&grad, &d);
        if gtd > -config.tolerance_change {
            stop = Stop::Stalled;
            break;
        }
        let mut new_loss = None;
        match config.line_search {
            LineSearch::StrongWolfe => {
                let found = strong_wolfe(&mut evaluate, &x, t, &d, loss, &grad, gtd, config)?;
                axpy(found.t, &d, &mut x);
                t = found.t;
                loss = found.loss;
                grad = found.grad;
                evals_used += found.evaluations;
                new_loss = Some(loss);
            }
            LineSearch::None => {
                axpy(t, &d, &mut x);
                if n_iter != max_iter {
                    (loss, grad) = evaluate(&x)?;
                    evals_used += 1;
                    new_loss = Some(loss);
                }
            }
        }
        on_iteration(
            &Iteration {
                iteration: n_iter,
                loss: new_loss,
                step: t,
                evaluations: evals_used,
            },
            &x,
        )?;
        if n_iter == max_iter {
            break;
        }
        if evals_used >= max_eval {
            stop = Stop::Evaluations;
            break;
        }
        if max_abs(&grad) <= config.tolerance_grad {
            stop = Stop::Gradient;
            break;
        }
        if max_abs(&d) * t <= config.tolerance_change
            || (loss - prev_loss).abs() < config.tolerance_change
        {
            stop = Stop::Stalled;
            break;
        }
    }
    Ok(done(stop, x, loss, n_iter, evals_used))
}

/// A point the line search evaluated.
struct Probe {
    t: f64,
    loss: f64,
    grad: Vec<f32>,
    gtd: f64,
}

struct Found {
    t: f64,
    loss: f64,
    grad: Vec<f32>,
    evaluations: usize,
}

/// PyTorch's `_strong_wolfe`: bracket a step that satisfies the strong Wolfe conditions, then zoom in by
/// cubic interpolation. `loss`, `grad`, `gtd` are at `x` (step 0).
#[allow(clippy::too_many_arguments)]
fn strong_wolfe(
    evaluate: &mut impl FnMut(&[f32]) -> Result<(f64, Vec<f32>)>,
    x: &[f32],
    mut t: f64,
    d: &[f32],
    loss: f64,
    grad: &[f32],
    gtd: f64,
    config: &LbfgsConfig,
) -> Result<Found> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    let max_ls = config.max_line_search;
    let d_norm = max_abs(d);
    let mut probe = |t: f64| -> Result<Probe> {
        let mut at = x.to_vec();
        axpy(t, d, &mut at);
        let (loss, grad) = evaluate(&at)?;
        let gtd = dot(&grad, d);
        Ok(Probe { t, loss, grad, gtd })
    };
    let mut evaluations = 1;
    let mut new = probe(t)?;
    let mut prev = Probe {
        t: 0.0,
        loss,
        grad: grad.to_vec(),
        gtd,
    };
    let mut ls_iter = 0;
    // Either a bracket [a, b] around an acceptable step, or (done) the acceptable step alone.
    let (mut bracket, mut done) = loop {
        if ls_iter == max_ls {
            let origin = Probe {
                t: 0.0,
                loss,
                grad: grad.to_vec(),
                gtd,
            };
            break (vec![origin, new], false);
        }
        if new.loss > loss + C1 * new.t * gtd || (ls_iter > 1 && new.loss >= prev.loss) {
            break (vec![prev, new], false);
        }
        if new.gtd.abs() <= -C2 * gtd {
            break (vec![new], true);
        }
        if new.gtd >= 0.0 {
            break (vec![prev, new], false);
        }
        let min_step = new.t + 0.01 * (new.t - prev.t);
        let max_step = new.t * 10.0;
        t = cubic_interpolate(
            (prev.t, prev.loss, prev.gtd),
            (new.t, new.loss, new.gtd),
            Some((min_step, max_step)),
        );
        prev = new;
        new = probe(t)?;
        evaluations += 1;
        ls_iter += 1;
    };
    let order = |b: &[Probe]| {
        if b[0].loss <= b[b.len() - 1].loss {
            (0, 1)
        } else {
            (1, 0)
        }
    };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while !done && ls_iter < max_ls {
        let (lo_t, hi_t) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (bracket[1].t - bracket[0].t).abs() * d_norm < config.tolerance_change {
            break;
        }
        t = cubic_interpolate(
            (bracket[0].t, bracket[0].loss, bracket[0].gtd),
            (bracket[1].t, bracket[1].loss, bracket[1].gtd),
            None,
        );
        // Keep away from the bracket's ends unless the last step made too little progress.
        let eps = 0.1 * (hi_t - lo_t);
        if (hi_t - t).min(t - lo_t) < eps {
            if insufficient_progress || t >= hi_t || t <= lo_t {
                t = if (t - hi_t).abs() < (t - lo_t).abs() {
                    hi_t - eps
                } else {
                    lo_t + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let new = probe(t)?;
        evaluations += 1;
        ls_iter += 1;
        if new.loss > loss + C1 * t * gtd || new.loss >= bracket[low].loss {
            bracket[high] = new;
            (low, high) = order(&bracket);
        } else {
            if new.gtd.abs() <= -C2 * gtd {
                done = true;
            } else if new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket.swap(high, low);
            }
            bracket[low] = new;
        }
    }
    let best = bracket.swap_remove(low.min(bracket.len() - 1));
    Ok(Found {
        t: best.t,
        loss: best.loss,
        grad: best.grad,
        evaluations,
    })
}

/// The minimizer of the cubic through two points with their slopes, within `bounds` (default: between
/// the points); their midpoint when the cubic has none.
fn cubic_interpolate(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// `a . b`, in eight f32 lanes per block of 1024 summed into f64 (vectorized without target flags).
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.chunks(1024)
        .zip(b.chunks(1024))
        .map(|(a, b)| {
            let mut lanes = [0f32; 8];
            let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
            let (b8, b_rest) = b.split_at(a8.len());
            for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
                for k in 0..8 {
                    lanes[k] += x[k] * y[k];
                }
            }
            let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
            lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
        })
        .sum()
}

/// `y += a x`.
fn axpy(a: f64, x: &[f32], y: &mut [f32]) {
    let a = a as f32;
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

fn max_abs(v: &[f32]) -> f64 {
    f64::from(v.iter().fold(0f32, |m, x| m.max(x.abs())))
}

fn sum_abs(v: &[f32]) -> f64 {
    v.chunks(1024)
        .map(|c| f64::from(c.iter().map(|x| x.abs()).sum::<f32>()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = 1/2 x^T A x - b^T x with A = diag(1..=n): the minimum is x_i = b_i / i, and on a quadratic
    /// L-BFGS with an exact-enough line search converges in about n iterations.
    fn quadratic(x: &[f32]) -> Result<(f64, Vec<f32>)> {
        let mut loss = 0.0;
        let mut grad = Vec::with_capacity(x.len());
        for (i, &v) in x.iter().enumerate() {
            let a = (i + 1) as f64;
            let b = 1.0 + i as f64 * 0.5;
            loss += 0.5 * a * f64::from(v) * f64::from(v) - b * f64::from(v);
            grad.push((a * f64::from(v) - b) as f32);
        }
        Ok((loss, grad))
    }

    fn rosenbrock(x: &[f32]) -> Result<(f64, Vec<f32>)> {
        let (a, b) = (f64::from(x[0]), f64::from(x[1]));
        let loss = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let ga = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        let gb = 200.0 * (b - a * a);
        Ok((loss, vec![ga as f32, gb as f32]))
    }

    #[test]
    fn finds_a_quadratics_minimum() {
        for line_search in [LineSearch::StrongWolfe, LineSearch::None] {
            let config = LbfgsConfig {
                line_search,
                ..Default::default()
            };
            let found =
                minimize(vec![0.0; 6], &config, 100, 200, quadratic, |_, _| Ok(())).unwrap();
            for (i, &v) in found.x.iter().enumerate() {
                let want = (1.0 + i as f32 * 0.5) / (i + 1) as f32;
                assert!(
                    (v - want).abs() < 1e-4,
                    "{line_search:?} x[{i}] = {v}, want {want}"
                );
            }
            assert!(found.last_loss < found.start_loss);
        }
    }

    #[test]
    fn finds_rosenbrocks_minimum_with_the_line_search() {
        let config = LbfgsConfig {
            line_search: LineSearch::StrongWolfe,
            ..Default::default()
        };
        let mut losses = Vec::new();
        let found = minimize(vec![-1.5, 2.0], &config, 200, 500, rosenbrock, |it, _| {
            losses.push(it.loss.unwrap());
            Ok(())
        })
        .unwrap();
        assert!(
            (found.x[0] - 1.0).abs() < 1e-3 && (found.x[1] - 1.0).abs() < 1e-3,
            "{:?}",
            found.x
        );
        // The strong Wolfe conditions include sufficient decrease: every iteration lowers the loss.
        assert!(losses.windows(2).all(|w| w[1] <= w[0]), "{losses:?}");
    }

    #[test]
    fn a_nan_loss_is_an_error_naming_the_evaluation() {
        let mut calls = 0;
        let err = minimize(
            vec![1.0, 2.0],
            &LbfgsConfig::default(),
            10,
            20,
            |x| {
                calls += 1;
                let (l, g) = quadratic(x)?;
                Ok((if calls == 3 { f64::NAN } else { l }, g))
            },
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteObjective { evaluation: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..3001).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..3001).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!(
            (dot(&a, &b) - plain).abs() < 1e-4,
            "{} vs {plain}",
            dot(&a, &b)
        );
    }
}
