//! Decomposition of Gemm (Transpose, MatMul, Mul, Add) and Einsum (an `as_strided` view per
//! operand for diagonals and broadcasting, then pairwise Transpose/Reshape/MatMul contractions
//! and Reduce Sum).

use super::emit::Emitter;
use super::operand;
use crate::error::Result;
use crate::graph::{TensorType, ValueId};
use crate::op::{BinaryOp as B, Op, ReduceOp as R};
use crate::shape::{checked_product, strides_of};

/// Rewrites `op` when it is one of this family (and its operands allow it).
pub(super) fn rewrite(
    em: &mut Emitter,
    op: &Op,
    ins: &[Option<ValueId>],
    _tys: &[TensorType],
) -> Result<Option<Vec<ValueId>>> {
    match *op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => gemm(em, ins, alpha, beta, trans_a, trans_b),
        Op::Einsum { ref equation } => einsum(em, ins, equation),
        _ => Ok(None),
    }
}

/// `alpha * A' B' + beta * C`; the C term is dropped when `beta` is 0 (so a NaN in C does not
/// leak, as the reference says). Integer operands need integral `alpha` and `beta` (otherwise
/// the node stays, and the host reports the error).
fn gemm(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<Option<Vec<ValueId>>> {
    let a = operand(em, ins, 0)?;
    let b = operand(em, ins, 1)?;
    if !em.dtype(a).is_float() && (alpha.fract() != 0.0 || beta.fract() != 0.0) {
        return Ok(None);
    }
    let a = if trans_a {
        em.transpose(a, &[1, 0])?
    } else {
        a
    };
    let b = if trans_b {
        em.transpose(b, &[1, 0])?
    } else {
        b
    };
    let mut y = em.op1(Op::MatMul {}, &[a, b])?;
    if alpha != 1.0 {
        y = em.bin_c(B::Mul, y, alpha.into())?;
    }
    if let Some(c) = ins.get(2).copied().flatten()
        && beta != 0.0
    {
        let c = if beta != 1.0 {
            em.bin_c(B::Mul, c, beta.into())?
        } else {
            c
        };
        y = em.bin(B::Add, y, c)?;
    }
    Ok(Some(vec![y]))
}

/// A label id: a letter's code point, or `ELLIPSIS + j` for the j-th broadcast axis.
type Label = u32;

/// First id of the `...` axes (above every letter).
const ELLIPSIS: Label = 1 << 16;

/// One parsed term: letters, with `None` standing for `...`.
fn parse_term(t: &str) -> Option<Vec<Option<Label>>> {
    let mut out = Vec::new();
    let mut rest = t;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            out.push(None);
            rest = r;
        } else {
            let c = rest.chars().next()?;
            if !c.is_ascii_alphabetic() {
                return None;
            }
            out.push(Some(c as Label));
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(out)
}

/// The labels of every operand axis and of the output, for operands of ranks `ranks`
/// (`...` right-aligned over the broadcast axes); `None` when the equation does not parse.
fn labels(equation: &str, ranks: &[usize]) -> Option<(Vec<Vec<Label>>, Vec<Label>)> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<Vec<Option<Label>>> = lhs.split(',').map(parse_term).collect::<Option<_>>()?;
    if terms.len() != ranks.len() {
        return None;
    }
    let ell: Vec<usize> = terms
        .iter()
        .zip(ranks)
        .map(|(t, &r)| r.checked_sub(t.iter().flatten().count()))
        .collect::<Option<_>>()?;
    let e = ell.iter().copied().max().unwrap_or(0) as Label;
    let expand = |t: &[Option<Label>], r: Label| -> Vec<Label> {
        t.iter()
            .flat_map(|s| match s {
                Some(l) => vec![*l],
                None => (ELLIPSIS + e - r..ELLIPSIS + e).collect(),
            })
            .collect()
    };
    let ids: Vec<Vec<Label>> = terms
        .iter()
        .zip(&ell)
        .map(|(t, &r)| expand(t, r as Label))
        .collect();
    let out = match rhs {
        Some(r) => expand(&parse_term(r)?, e),
        None => {
            let mut out: Vec<Label> = (ELLIPSIS..ELLIPSIS + e).collect();
            let mut letters: Vec<Label> = ids
                .iter()
                .flatten()
                .copied()
                .filter(|&l| l < ELLIPSIS)
                .collect();
            letters.sort_unstable();
            let once = |l: Label| letters.iter().filter(|&&m| m == l).count() == 1;
            out.extend(letters.iter().copied().filter(|&l| once(l)));
            out
        }
    };
    Some((ids, out))
}

/// A value with one label per axis.
struct Term {
    v: ValueId,
    labels: Vec<Label>,
}

/// Einsum. Each operand first becomes an `as_strided` view with one axis per distinct label
/// (repeated labels walk the diagonal, size-1 axes broadcast with stride 0); labels no other
/// operand or the output needs are summed away; operands are then contracted left to right
/// by MatMul over `[batch, free, summed]` layouts; the result is transposed to the output.
fn einsum(
    em: &mut Emitter,
    ins: &[Option<ValueId>],
    equation: &str,
) -> Result<Option<Vec<ValueId>>> {
    let xs: Vec<ValueId> = ins.iter().flatten().copied().collect();
    let Some(dims) = xs.iter().map(|&x| em.dims(x)).collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    let ranks: Vec<usize> = dims.iter().map(Vec::len).collect();
    let Some((ids, out)) = labels(equation, &ranks) else {
        return Ok(None);
    };
    let mut size: std::collections::HashMap<Label, usize> = std::collections::HashMap::new();
    for (l, &d) in ids.iter().flatten().zip(dims.iter().flatten()) {
        let s = size.entry(*l).or_insert(1);
        if *s == 1 {
            *s = d;
        }
    }
    let sz = |l: &Label| size.get(l).copied().unwrap_or(1);
    let mut terms = Vec::with_capacity(xs.len());
    for ((&x, lab), d) in xs.iter().zip(&ids).zip(&dims) {
        let mut uniq: Vec<Label> = Vec::new();
        let mut strides: Vec<i64> = Vec::new();
        for ((&l, &n), st) in lab.iter().zip(d).zip(strides_of(d)) {
            let st = if n == sz(&l) { st as i64 } else { 0 };
            match uniq.iter().position(|&u| u == l) {
                Some(k) => strides[k] += st,
                None => {
                    uniq.push(l);
                    strides.push(st);
                }
            }
        }
        let shape: Vec<usize> = uniq.iter().map(sz).collect();
        let natural: Vec<i64> = strides_of(&shape).iter().map(|&s| s as i64).collect();
        let v =
            if uniq.len() == lab.len() && shape == *d && (strides == natural || shape.contains(&0))
            {
                x
            } else {
                em.as_strided(x, &shape, &strides, 0)?
            };
        terms.push(Term { v, labels: uniq });
    }
    let mut iter = terms.into_iter().enumerate();
    let Some((_, first)) = iter.next() else {
        return Ok(None);
    };
    let later = |k: usize| -> Vec<Label> {
        let mut keep = out.clone();
        keep.extend(ids.iter().skip(k).flatten());
        keep
    };
    let mut acc = sum_unneeded(em, first, &later(1), &[])?;
    for (k, t) in iter {
        let keep = later(k + 1);
        let t = sum_unneeded(em, t, &keep, &acc.labels)?;
        acc = sum_unneeded(em, acc, &keep, &t.labels)?;
        acc = contract(em, acc, t, &keep, &sz)?;
    }
    let acc = sum_unneeded(em, acc, &out, &[])?;
    let perm: Option<Vec<usize>> = out
        .iter()
        .map(|l| acc.labels.iter().position(|m| m == l))
        .collect();
    let Some(perm) = perm else { return Ok(None) };
    Ok(Some(vec![em.transpose(acc.v, &perm)?]))
}

/// Sums away the labels of `t` that are neither in `keep` nor in `other`.
fn sum_unneeded(em: &mut Emitter, t: Term, keep: &[Label], other: &[Label]) -> Result<Term> {
    let (gone, stay): (Vec<usize>, Vec<usize>) = (0..t.labels.len())
        .partition(|&k| !keep.contains(&t.labels[k]) && !other.contains(&t.labels[k]));
    if gone.is_empty() {
        return Ok(t);
    }
    let axes: Vec<i64> = gone.iter().map(|&k| k as i64).collect();
    let v = em.reduce(R::Sum, t.v, &axes, false)?;
    Ok(Term {
        v,
        labels: stay.iter().map(|&k| t.labels[k]).collect(),
    })
}

/// Contracts two terms: shared labels in `keep` are batch axes, the other shared ones are
/// summed; the result's labels are `batch, a-only, b-only`.
fn contract(
    em: &mut Emitter,
    a: Term,
    b: Term,
    keep: &[Label],
    sz: &dyn Fn(&Label) -> usize,
) -> Result<Term> {
    let shared: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| b.labels.contains(l))
        .collect();
    let (batch, summed): (Vec<Label>, Vec<Label>) = shared.iter().partition(|l| keep.contains(l));
    let a_only: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| !shared.contains(l))
        .collect();
    let b_only: Vec<Label> = b
        .labels
        .iter()
        .copied()
        .filter(|l| !shared.contains(l))
        .collect();
    let prod = |ls: &[Label]| checked_product(&ls.iter().map(sz).collect::<Vec<_>>());
    let (Some(pb), Some(pa), Some(ps), Some(po)) =
        (prod(&batch), prod(&a_only), prod(&summed), prod(&b_only))
    else {
        return Err(em.internal("einsum extents overflow"));
    };
    let arrange =
        |em: &mut Emitter, t: &Term, order: &[Label], dims: &[usize]| -> Result<ValueId> {
            let perm: Vec<usize> = order
                .iter()
                .filter_map(|l| t.labels.iter().position(|m| m == l))
                .collect();
            let v = em.transpose(t.v, &perm)?;
            em.reshape(v, dims)
        };
    let ao: Vec<Label> = [&batch[..], &a_only, &summed].concat();
    let bo: Vec<Label> = [&batch[..], &summed, &b_only].concat();
    let av = arrange(em, &a, &ao, &[pb, pa, ps])?;
    let bv = arrange(em, &b, &bo, &[pb, ps, po])?;
    let y = em.op1(Op::MatMul {}, &[av, bv])?;
    let labels: Vec<Label> = [&batch[..], &a_only, &b_only].concat();
    let dims: Vec<usize> = labels.iter().map(sz).collect();
    let v = em.reshape(y, &dims)?;
    Ok(Term { v, labels })
}
