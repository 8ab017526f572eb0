//! The team kernels against a plain f64 transcription of the LSTM equations, on every instruction set
//! this CPU has and several team sizes, over awkward shapes.

use super::*;

/// The hidden states `(steps, batch, hidden)` out of the packed result.
fn hidden_states(packed: &[f32], g: &LstmGeometry) -> Vec<f32> {
    let row = PACKED * g.hidden;
    packed
        .chunks_exact(row)
        .flat_map(|r| r[H * g.hidden..(H + 1) * g.hidden].iter().copied())
        .collect()
}

/// Dense `(4 hidden, hidden)` recurrent weights.
fn dense(w: &[f32], hidden: usize) -> Mat<'_> {
    Mat::rows(w, 4 * hidden, hidden)
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The packed forward result, in f64.
fn reference_forward(xw: &[f32], w: &[f32], bias: &[f32], g: &LstmGeometry) -> Vec<f64> {
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let mut out = vec![0.0f64; g.packed_len()];
    for t in 0..g.steps {
        for r in 0..b {
            let now = (t * b + r) * row;
            for u in 0..hd {
                let z = |q: usize| {
                    let col = q * hd + u;
                    let mut z = (xw[(t * b + r) * 4 * hd + col] + bias[col]) as f64;
                    if t > 0 {
                        let prev = ((t - 1) * b + r) * row;
                        for p in 0..hd {
                            z += out[prev + p] * w[col * hd + p] as f64;
                        }
                    }
                    z
                };
                let (i, f, gg, o) = (sig(z(0)), sig(z(1)), z(2).tanh(), sig(z(3)));
                let c_prev = if t > 0 {
                    out[((t - 1) * b + r) * row + C * hd + u]
                } else {
                    0.0
                };
                let c = f * c_prev + i * gg;
                for (s, v) in [o * c.tanh(), c, c.tanh(), i, f, gg, o]
                    .into_iter()
                    .enumerate()
                {
                    out[now + s * hd + u] = v;
                }
            }
        }
    }
    out
}

/// `(dxw, dw, db)` from the reference forward result, in f64.
fn reference_backward(
    packed: &[f64],
    grad_h: &[f32],
    w: &[f32],
    g: &LstmGeometry,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (b, hd) = (g.batch, g.hidden);
    let row = PACKED * hd;
    let mut dxw = vec![0.0f64; g.steps * b * 4 * hd];
    let mut dw = vec![0.0f64; 4 * hd * hd];
    let mut db = vec![0.0f64; 4 * hd];
    let (mut dh, mut dc) = (vec![0.0f64; b * hd], vec![0.0f64; b * hd]);
    for t in (0..g.steps).rev() {
        for r in 0..b {
            let s = |seg: usize, u: usize| packed[(t * b + r) * row + seg * hd + u];
            for u in 0..hd {
                let (tc, i, f, gg, o) = (s(TANH_C, u), s(3, u), s(4, u), s(5, u), s(6, u));
                let c_prev = if t > 0 {
                    packed[((t - 1) * b + r) * row + C * hd + u]
                } else {
                    0.0
                };
                let dhu = dh[r * hd + u] + grad_h[(t * b + r) * hd + u] as f64;
                let dcu = dc[r * hd + u] + dhu * o * (1.0 - tc * tc);
                let d = [
                    dcu * gg * i * (1.0 - i),
                    dcu * c_prev * f * (1.0 - f),
                    dcu * i * (1.0 - gg * gg),
                    dhu * tc * o * (1.0 - o),
                ];
                dc[r * hd + u] = dcu * f;
                for (q, d) in d.into_iter().enumerate() {
                    dxw[(t * b + r) * 4 * hd + q * hd + u] = d;
                    db[q * hd + u] += d;
                }
            }
        }
        dh.fill(0.0);
        for r in 0..b {
            for col in 0..4 * hd {
                let d = dxw[(t * b + r) * 4 * hd + col];
                for p in 0..hd {
                    dh[r * hd + p] += d * w[col * hd + p] as f64;
                    if t > 0 {
                        dw[col * hd + p] += d * packed[((t - 1) * b + r) * row + p];
                    }
                }
            }
        }
    }
    (dxw, dw, db)
}

fn pseudo_random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Largest `|a - b|` over `max |b| + 1`.
fn error(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs() / scale)
        .fold(0.0, |m, e| if e.is_nan() { f64::NAN } else { m.max(e) })
}

const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 8),
    (3, 1, 5),
    (1, 4, 17),
    (5, 7, 8),
    (4, 3, 33),
    (6, 13, 40),
    (2, 6, 71),
    (3, 9, 130),
    (3, 32, 256),
];

#[test]
fn forward_and_backward_match_the_equations_on_every_isa_and_team_size() {
    for (steps, batch, hidden) in SHAPES {
        let g = LstmGeometry {
            steps,
            batch,
            hidden,
        };
        let w_scale = 2.0 / (hidden as f32).sqrt();
        let xw = pseudo_random(steps * batch * 4 * hidden, 1, 1.0);
        let w = pseudo_random(4 * hidden * hidden, 2, w_scale);
        let bias = pseudo_random(4 * hidden, 3, 0.5);
        let grad_h = pseudo_random(steps * batch * hidden, 4, 1.0);
        let expected = reference_forward(&xw, &w, &bias, &g);
        let (dxw, dw, db) = reference_backward(&expected, &grad_h, &w, &g);
        let dxw_len = dxw.len();
        for isa in Isa::available() {
            let mut first: Option<(AlignedBuf, Vec<f32>)> = None;
            for members in [1, 2, 3] {
                let what = format!("T{steps} B{batch} H{hidden} {isa:?} x{members}");
                let pass = lstm_forward_on(
                    isa,
                    members,
                    Projections::Rows(&xw),
                    dense(&w, hidden),
                    &bias,
                    &g,
                );
                let packed = pass.packed;
                let e = error(&packed, &expected);
                assert!(e < 2e-5, "{what}: forward error {e:.2e}");
                assert_eq!(
                    pass.hidden,
                    hidden_states(&packed, &g),
                    "{what}: hidden states"
                );
                let grads =
                    lstm_backward_on(isa, members, &packed, &grad_h, dense(&w, hidden), None, &g);
                let (gx, rest) = grads.split_at(dxw_len);
                let (gw, gb) = rest.split_at(4 * hidden * hidden);
                for (name, got, want) in [("dxw", gx, &dxw), ("dw", gw, &dw), ("db", gb, &db)] {
                    let e = error(got, want);
                    assert!(e < 5e-5, "{what}: {name} error {e:.2e}");
                }
                // The same code computes each element whichever member owns it.
                match &first {
                    None => first = Some((packed, grads)),
                    Some((p, gr)) => {
                        assert!(p == &packed && gr == &grads, "{what}: differs from x1");
                    }
                }
            }
        }
    }
}

#[test]
fn the_public_entry_points_use_the_best_isa() {
    let g = LstmGeometry {
        steps: 4,
        batch: 32,
        hidden: 64,
    };
    let xw = pseudo_random(g.steps * g.batch * 4 * g.hidden, 5, 1.0);
    let w = pseudo_random(4 * g.hidden * g.hidden, 6, 0.2);
    let bias = pseudo_random(4 * g.hidden, 7, 0.5);
    let grad_h = pseudo_random(g.steps * g.batch * g.hidden, 8, 1.0);
    let w = dense(&w, g.hidden);
    let pass = lstm_forward(Projections::Rows(&xw), w, &bias, &g);
    let one = lstm_forward_on(Isa::best(), 1, Projections::Rows(&xw), w, &bias, &g);
    assert!(pass.packed == one.packed && pass.hidden == one.hidden);
    assert_eq!(
        lstm_backward(&pass.packed, &grad_h, w, None, &g),
        lstm_backward_on(Isa::best(), 1, &pass.packed, &grad_h, w, None, &g)
    );
}

#[test]
fn looked_up_projections_give_what_the_gathered_rows_give() {
    let g = LstmGeometry {
        steps: 6,
        batch: 9,
        hidden: 40,
    };
    let symbols = 11;
    let table = pseudo_random(symbols * 4 * g.hidden, 9, 1.0);
    let ids: Vec<u32> = (0..g.steps * g.batch)
        .map(|i| (i * 7 % symbols) as u32)
        .collect();
    let gathered: Vec<f32> = ids
        .iter()
        .flat_map(|&id| table[id as usize * 4 * g.hidden..][..4 * g.hidden].to_vec())
        .collect();
    let w = pseudo_random(4 * g.hidden * g.hidden, 10, 0.2);
    let bias = pseudo_random(4 * g.hidden, 11, 0.5);
    for isa in Isa::available() {
        for members in [1, 2] {
            let lookup = Projections::Lookup {
                table: &table,
                ids: &ids,
            };
            let w = dense(&w, g.hidden);
            let rows = Projections::Rows(&gathered);
            let (looked_up, gathered) = (
                lstm_forward_on(isa, members, lookup, w, &bias, &g),
                lstm_forward_on(isa, members, rows, w, &bias, &g),
            );
            assert!(
                looked_up.packed == gathered.packed && looked_up.hidden == gathered.hidden,
                "{isa:?} x{members}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "out of range")]
fn an_id_past_the_table_is_refused() {
    let g = LstmGeometry {
        steps: 1,
        batch: 2,
        hidden: 4,
    };
    let table = vec![0.0; 3 * 16];
    let lookup = Projections::Lookup {
        table: &table,
        ids: &[0, 3],
    };
    lstm_forward(lookup, dense(&[0.0; 64], 4), &[0.0; 16], &g);
}

/// Recurrent weights read in place with the bias beside them (rows `hidden + 1` apart, as the layer op
/// passes PyTorch's weights) give the dense weights' results, and their gradient comes back in that
/// layout with the extra column zero.
#[test]
fn strided_recurrent_weights_give_the_dense_results() {
    let g = LstmGeometry {
        steps: 4,
        batch: 5,
        hidden: 33,
    };
    let hd = g.hidden;
    let xw = pseudo_random(g.steps * g.batch * 4 * hd, 12, 1.0);
    let w = pseudo_random(4 * hd * hd, 13, 0.3);
    let bias = pseudo_random(4 * hd, 14, 0.5);
    let grad_h = pseudo_random(g.steps * g.batch * hd, 15, 1.0);
    let mut beside = Vec::new();
    for (q, row) in w.chunks_exact(hd).enumerate() {
        beside.extend_from_slice(row);
        beside.push(1000.0 + q as f32);
    }
    let strided = Mat {
        data: &beside,
        rows: 4 * hd,
        cols: hd,
        rs: hd + 1,
        cs: 1,
    };
    for isa in Isa::available() {
        for members in [1, 2] {
            let what = format!("{isa:?} x{members}");
            let rows = Projections::Rows(&xw);
            let want = lstm_forward_on(isa, members, rows, dense(&w, hd), &bias, &g);
            let got = lstm_forward_on(isa, members, rows, strided, &bias, &g);
            assert!(
                got.packed == want.packed && got.hidden == want.hidden,
                "{what}"
            );
            let want =
                lstm_backward_on(isa, members, &want.packed, &grad_h, dense(&w, hd), None, &g);
            let got = lstm_backward_on(isa, members, &got.packed, &grad_h, strided, None, &g);
            let (dense_layout, strided_layout) = (
                BackwardLayout::new(&g, hd, 0),
                BackwardLayout::new(&g, hd + 1, 0),
            );
            let [want_gates, want_w, want_b, _] = dense_layout.split(&want);
            let [got_gates, got_w, got_b, _] = strided_layout.split(&got);
            assert!(got_gates == want_gates && got_b == want_b, "{what}");
            for (got, want) in got_w.chunks_exact(hd + 1).zip(want_w.chunks_exact(hd)) {
                assert!(got[..hd] == *want && got[hd] == 0.0, "{what}");
            }
        }
    }
}

/// With ids, the backward pass sums each step's gate gradients into the table row its id looked up:
/// against those sums in f64 over the gate gradients it returns, on every instruction set and team size,
/// with a hidden size that leaves a ragged block; the rest of the result is what it is without ids.
#[test]
fn the_table_gradient_sums_the_gates_of_each_id() {
    let g = LstmGeometry {
        steps: 7,
        batch: 6,
        hidden: 40,
    };
    let (hd, symbols) = (g.hidden, 9);
    let four_h = 4 * hd;
    let ids: Vec<u32> = (0..g.steps * g.batch)
        .map(|i| ((i * 5 + i / 7) % (symbols - 1)) as u32)
        .collect();
    let table = pseudo_random(symbols * four_h, 16, 1.0);
    let w = pseudo_random(four_h * hd, 17, 0.3);
    let bias = pseudo_random(four_h, 18, 0.5);
    let grad_h = pseudo_random(g.steps * g.batch * hd, 19, 1.0);
    let lookup = Projections::Lookup {
        table: &table,
        ids: &ids,
    };
    let with_ids = Some(IdRows { ids: &ids, symbols });
    let layout = BackwardLayout::new(&g, hd, symbols);
    for isa in Isa::available() {
        let mut first: Option<Vec<f32>> = None;
        for members in [1, 2, 3] {
            let what = format!("{isa:?} x{members}");
            let pass = lstm_forward_on(isa, members, lookup, dense(&w, hd), &bias, &g);
            let all = lstm_backward_on(
                isa,
                members,
                &pass.packed,
                &grad_h,
                dense(&w, hd),
                with_ids,
                &g,
            );
            let plain =
                lstm_backward_on(isa, members, &pass.packed, &grad_h, dense(&w, hd), None, &g);
            assert_eq!(all[..plain.len()], plain[..], "{what}");
            let [gates, _, _, got] = layout.split(&all);
            let mut want = vec![0.0f64; symbols * four_h];
            for (row, &id) in gates.chunks_exact(four_h).zip(&ids) {
                for (w, &d) in want[id as usize * four_h..][..four_h].iter_mut().zip(row) {
                    *w += d as f64;
                }
            }
            let e = error(got, &want);
            assert!(e < 1e-6, "{what}: table gradient error {e:.2e}");
            // The last symbol was never looked up.
            assert!(
                got[(symbols - 1) * four_h..].iter().all(|&v| v == 0.0),
                "{what}"
            );
            match &first {
                None => first = Some(all),
                Some(f) => assert!(f == &all, "{what}: differs from x1"),
            }
        }
    }
}
