//! Einsum: Einstein summation with NumPy's rules — explicit (`->`) or implicit output,
//! repeated labels (diagonals), `...` broadcasting and size-1 broadcasting of labels.

use super::window::all_indices;
use super::{Accept, Num, Slices, addressable, attr_err, pack, shape_err, slices, widen_same};
use crate::error::{At, Result};
use crate::interp::values::Data;
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// One subscript of a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    /// A letter, as an id ordered like ASCII: `A..Z` are 0..26, `a..z` are 26..52.
    Label(usize),
    /// `...`.
    Ellipsis,
}

/// Number of letter ids; ellipsis axes get ids from here on.
const LETTERS: usize = 52;

/// Parses one term such as `b...ij` (spaces already removed).
fn parse_term(term: &str) -> Result<Vec<Sub>, String> {
    let mut subs = Vec::new();
    let mut rest = term;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("...") {
            if subs.contains(&Sub::Ellipsis) {
                return Err(format!("term `{term}` has more than one `...`"));
            }
            subs.push(Sub::Ellipsis);
            rest = r;
            continue;
        }
        let id = match c {
            'A'..='Z' => c as usize - 'A' as usize,
            'a'..='z' => c as usize - 'a' as usize + 26,
            _ => return Err(format!("term `{term}` has an invalid subscript `{c}`")),
        };
        subs.push(Sub::Label(id));
        rest = &rest[c.len_utf8()..];
    }
    Ok(subs)
}

/// A parsed equation: the input terms and, when explicit, the output term.
struct Equation {
    inputs: Vec<Vec<Sub>>,
    output: Option<Vec<Sub>>,
}

fn parse_equation(eq: &str) -> Result<Equation, String> {
    let compact: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match compact.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (compact.as_str(), None),
    };
    if rhs.is_some_and(|r| r.contains("->")) {
        return Err("more than one `->`".into());
    }
    let inputs = lhs
        .split(',')
        .map(parse_term)
        .collect::<Result<Vec<_>, _>>()?;
    let output = rhs.map(parse_term).transpose()?;
    for (i, sub) in output.iter().flatten().enumerate() {
        let Sub::Label(id) = sub else { continue };
        if output.iter().flatten().take(i).any(|s| s == sub) {
            return Err("the output repeats a subscript".into());
        }
        if !inputs.iter().flatten().any(|s| *s == Sub::Label(*id)) {
            return Err("the output has a subscript that no input has".into());
        }
    }
    Ok(Equation { inputs, output })
}

/// The evaluation plan: extents of the output and summed axes, and per operand the element
/// offset each contributes for every output and every summation index.
struct Plan {
    out_shape: Vec<usize>,
    /// `out_offsets[k][o]`: offset into operand `k` for output index `o`.
    out_offsets: Vec<Vec<usize>>,
    /// `sum_offsets[k][s]`: offset into operand `k` for summation index `s`.
    sum_offsets: Vec<Vec<usize>>,
}

/// Maps every axis of every operand to a label id (ellipsis axes right-aligned onto ids
/// `LETTERS..LETTERS + E`), returning the per-operand ids and `E`.
fn axis_ids(eq: &Equation, shapes: &[&[usize]]) -> Result<(Vec<Vec<usize>>, usize), String> {
    let mut ell = Vec::with_capacity(shapes.len());
    for (k, (term, shape)) in eq.inputs.iter().zip(shapes).enumerate() {
        let letters = term.iter().filter(|s| **s != Sub::Ellipsis).count();
        let has_ell = term.contains(&Sub::Ellipsis);
        if shape.len() < letters || (!has_ell && shape.len() != letters) {
            return Err(format!(
                "operand {k} has rank {} but its term has {letters} subscripts{}",
                shape.len(),
                if has_ell { " and `...`" } else { "" }
            ));
        }
        ell.push(shape.len() - letters);
    }
    let e = ell.iter().copied().max().unwrap_or(0);
    let ids = eq
        .inputs
        .iter()
        .zip(&ell)
        .map(|(term, &r)| {
            term.iter()
                .flat_map(|s| match *s {
                    Sub::Label(id) => vec![id],
                    Sub::Ellipsis => (LETTERS + e - r..LETTERS + e).collect(),
                })
                .collect()
        })
        .collect();
    Ok((ids, e))
}

/// The output's label ids: the explicit term (checked by [`parse_equation`]), or NumPy's
/// implicit order (ellipsis axes, then the letters that occur exactly once, alphabetically with
/// capitals first).
fn output_ids(eq: &Equation, ids: &[Vec<usize>], e: usize) -> Result<Vec<usize>, String> {
    let ell_ids = || (LETTERS..LETTERS + e).collect::<Vec<_>>();
    let Some(term) = &eq.output else {
        let mut counts = [0usize; LETTERS];
        ids.iter()
            .flatten()
            .filter(|&&id| id < LETTERS)
            .for_each(|&id| counts[id] += 1);
        let mut out = ell_ids();
        out.extend((0..LETTERS).filter(|&id| counts[id] == 1));
        return Ok(out);
    };
    let mut out = Vec::new();
    for s in term {
        match *s {
            Sub::Label(id) => out.push(id),
            Sub::Ellipsis => out.extend(ell_ids()),
        }
    }
    if e > 0 && !term.contains(&Sub::Ellipsis) {
        return Err("inputs broadcast `...` axes but the output has no `...`".into());
    }
    Ok(out)
}

/// The extent of every label id, broadcasting size-1 extents across operands; repeated
/// labels within one operand must agree exactly.
fn label_sizes(ids: &[Vec<usize>], shapes: &[&[usize]], e: usize) -> Result<Vec<usize>, String> {
    let mut size: Vec<Option<usize>> = vec![None; LETTERS + e];
    for (k, (op_ids, shape)) in ids.iter().zip(shapes).enumerate() {
        let mut own: Vec<Option<usize>> = vec![None; LETTERS + e];
        for (&id, &d) in op_ids.iter().zip(shape.iter()) {
            if own[id].is_some_and(|o| o != d) {
                return Err(format!(
                    "operand {k} repeats a subscript over axes of extents {} and {d}",
                    own[id].unwrap_or(0)
                ));
            }
            own[id] = Some(d);
            size[id] = match size[id] {
                None | Some(1) => Some(d),
                Some(s) if s == d || d == 1 => Some(s),
                Some(s) => {
                    return Err(format!(
                        "operand {k}: a subscript has extent {d}, elsewhere {s}"
                    ));
                }
            };
        }
    }
    Ok(size.into_iter().map(|s| s.unwrap_or(1)).collect())
}

/// Offsets into one operand for every index of `axes_ids` with extents `sizes`; `strides[id]`
/// is the operand's stride for that label (0 when absent or broadcast).
fn offsets(axes_ids: &[usize], sizes: &[usize], strides: &[usize]) -> Vec<usize> {
    let extents: Vec<usize> = axes_ids.iter().map(|&id| sizes[id]).collect();
    all_indices(&extents)
        .iter()
        .map(|idx| {
            idx.iter()
                .zip(axes_ids)
                .map(|(i, &id)| i * strides[id])
                .sum()
        })
        .collect()
}

fn plan(eq: &Equation, shapes: &[&[usize]]) -> Result<Plan, String> {
    let (ids, e) = axis_ids(eq, shapes)?;
    let out = output_ids(eq, &ids, e)?;
    let sizes = label_sizes(&ids, shapes, e)?;
    let mut summed: Vec<usize> = Vec::new();
    for &id in ids.iter().flatten() {
        if !out.contains(&id) && !summed.contains(&id) {
            summed.push(id);
        }
    }
    let sum_shape: Vec<usize> = summed.iter().map(|&id| sizes[id]).collect();
    let out_shape: Vec<usize> = out.iter().map(|&id| sizes[id]).collect();
    if !addressable(&sum_shape) || !addressable(&out_shape) {
        return Err("the output or summation space is too large".into());
    }
    let mut out_offsets = Vec::with_capacity(shapes.len());
    let mut sum_offsets = Vec::with_capacity(shapes.len());
    for (op_ids, shape) in ids.iter().zip(shapes) {
        // Per-label strides; repeated labels add up (a diagonal walk), broadcast axes read 0.
        let mut label_stride = vec![0usize; LETTERS + e];
        for ((&id, &d), st) in op_ids.iter().zip(shape.iter()).zip(strides_of(shape)) {
            if d == sizes[id] {
                label_stride[id] += st;
            }
        }
        out_offsets.push(offsets(&out, &sizes, &label_stride));
        sum_offsets.push(offsets(&summed, &sizes, &label_stride));
    }
    Ok(Plan {
        out_shape,
        out_offsets,
        sum_offsets,
    })
}

fn einsum_kernel<T: Num>(ops: &[&[T]], p: &Plan) -> Vec<T> {
    let n_out: usize = p.out_shape.iter().product();
    let n_sum = p.sum_offsets.first().map_or(0, Vec::len);
    (0..n_out)
        .map(|o| {
            let mut acc = T::ZERO;
            for s in 0..n_sum {
                let mut term: Option<T> = None;
                for (k, x) in ops.iter().enumerate() {
                    let v = x[p.out_offsets[k][o] + p.sum_offsets[k][s]];
                    term = Some(term.map_or(v, |t| t.mul(v)));
                }
                acc = acc.add(term.unwrap_or(T::ZERO));
            }
            acc
        })
        .collect()
}

/// ONNX Einsum over all inputs (at least one, one dtype).
pub(super) fn einsum(at: &At, equation: &str, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let eq = parse_equation(equation)
        .map_err(|m| attr_err(at, "equation", format!("`{equation}`: {m}")))?;
    if inputs.is_empty() || inputs.iter().any(Option::is_none) {
        return Err(attr_err(
            at,
            "equation",
            "einsum needs at least one input and no absent ones",
        ));
    }
    if eq.inputs.len() != inputs.len() {
        return Err(attr_err(
            at,
            "equation",
            format!(
                "`{equation}` has {} terms for {} inputs",
                eq.inputs.len(),
                inputs.len()
            ),
        ));
    }
    let arrs = widen_same(at, inputs, Accept::Numeric)?;
    let shapes: Vec<&[usize]> = arrs.iter().map(|a| a.shape.as_slice()).collect();
    let p = plan(&eq, &shapes).map_err(|m| shape_err(at, inputs, format!("`{equation}`: {m}")))?;
    let data = match slices(at, &arrs)? {
        Slices::F(v) => Data::F(einsum_kernel(&v, &p)),
        Slices::I(v) => Data::I(einsum_kernel(&v, &p)),
    };
    Ok(pack(arrs[0].dtype, p.out_shape, data))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{f, iota, run1};
    use super::*;
    use crate::error::IrError;
    use crate::op::Op;

    fn es(eq: &str, inputs: &[&Tensor]) -> Result<Tensor> {
        let inputs: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
        run1(
            Op::Einsum {
                equation: eq.into(),
            },
            &inputs,
        )
    }

    fn check(eq: &str, inputs: &[&Tensor], shape: &[usize], expect: &[f32]) {
        let y = es(eq, inputs).unwrap_or_else(|e| panic!("{eq}: {e}"));
        assert_eq!(y.shape(), shape, "{eq}");
        assert_eq!(y.to_vec::<f32>().unwrap(), expect, "{eq}");
    }

    // Expected values below come from numpy.einsum.

    #[test]
    fn products_and_transposes() {
        check(
            "ij,jk->ik",
            &[&iota(&[2, 3]), &iota(&[3, 2])],
            &[2, 2],
            &[10., 13., 28., 40.],
        );
        check(
            " i j , j k ",
            &[&iota(&[2, 3]), &iota(&[3, 2])],
            &[2, 2],
            &[10., 13., 28., 40.],
        );
        check(
            "ij->ji",
            &[&iota(&[2, 3])],
            &[3, 2],
            &[0., 3., 1., 4., 2., 5.],
        );
        // Implicit output is alphabetical: `ba` is a transpose.
        check("ba", &[&iota(&[2, 3])], &[3, 2], &[0., 3., 1., 4., 2., 5.]);
        // Capitals sort first.
        check(
            "Ba,a",
            &[&iota(&[2, 3]), &f(&[3], &[1., 1., 1.])],
            &[2],
            &[3., 12.],
        );
        check(
            "i,j->ij",
            &[&iota(&[2]), &iota(&[3])],
            &[2, 3],
            &[0., 0., 0., 0., 1., 2.],
        );
        check(
            "bij,bjk->bik",
            &[&iota(&[2, 2, 3]), &iota(&[2, 3, 1])],
            &[2, 2, 1],
            &[5., 14., 86., 122.],
        );
        // Scalar operands and outputs.
        check(
            ",->",
            &[&Tensor::scalar(3f32), &Tensor::scalar(4f32)],
            &[],
            &[12.],
        );
        check("i->", &[&iota(&[4])], &[], &[6.]);
    }

    #[test]
    fn diagonals_and_traces() {
        check("ii->", &[&iota(&[3, 3])], &[], &[12.]);
        check("ii", &[&iota(&[3, 3])], &[], &[12.]);
        check("ii->i", &[&iota(&[3, 3])], &[3], &[0., 4., 8.]);
        check("bii->bi", &[&iota(&[2, 2, 2])], &[2, 2], &[0., 3., 4., 7.]);
        check("iji->j", &[&iota(&[2, 3, 2])], &[3], &[7., 11., 15.]);
    }

    #[test]
    fn ellipsis_and_broadcasting() {
        check(
            "...ij,...jk",
            &[&iota(&[2, 1, 2, 2]), &iota(&[3, 2, 1])],
            &[2, 3, 2, 1],
            &[1., 3., 3., 13., 5., 23., 5., 7., 23., 33., 41., 59.],
        );
        check("i...->...", &[&iota(&[2, 3])], &[3], &[3., 5., 7.]);
        check("...->...", &[&Tensor::scalar(2f32)], &[], &[2.]);
        // Size-1 label extents broadcast across operands, as in NumPy.
        check(
            "ij,ij->ij",
            &[&iota(&[2, 1]), &iota(&[2, 3])],
            &[2, 3],
            &[0., 0., 0., 3., 4., 5.],
        );
    }

    #[test]
    fn ints_empty_and_nan() {
        let a = Tensor::from_vec(&[2], vec![i32::MAX, 1]).unwrap();
        let y = es("i,i->", &[&a, &a]).unwrap();
        // MAX^2 + 1 wraps to 2 in i32.
        assert_eq!(y.to_vec::<i32>().unwrap(), vec![2]);
        check(
            "ij,jk->ik",
            &[&f(&[2, 0], &[]), &f(&[0, 2], &[])],
            &[2, 2],
            &[0.; 4],
        );
        check("ij->j", &[&f(&[0, 2], &[])], &[2], &[0., 0.]);
        let y = es("i,i", &[&f(&[2], &[f32::NAN, 1.]), &f(&[2], &[1., 1.])]).unwrap();
        assert!(y.to_vec::<f32>().unwrap()[0].is_nan());
    }

    #[test]
    fn errors() {
        let m = iota(&[2, 3]);
        let attr = |eq: &str, ins: &[&Tensor]| {
            matches!(
                es(eq, ins),
                Err(IrError::Attribute {
                    attr: "equation",
                    ..
                })
            )
        };
        let shape =
            |eq: &str, ins: &[&Tensor]| matches!(es(eq, ins), Err(IrError::InputShape { .. }));
        assert!(attr("ij,jk->ik", &[&m]));
        assert!(attr("i1->i", &[&iota(&[2])]));
        assert!(attr("i->ii", &[&iota(&[2])]));
        assert!(attr("i->j", &[&iota(&[2])]));
        assert!(attr("i..->i", &[&iota(&[2])]));
        assert!(attr("......->", &[&iota(&[2])]));
        assert!(attr("i->i->i", &[&iota(&[2])]));
        // Rank and extent mismatches.
        assert!(shape("ijk->i", &[&m]));
        assert!(shape("i->i", &[&m]));
        assert!(shape("ij,jk->ik", &[&m, &m]));
        assert!(shape("ii->i", &[&m]));
        assert!(shape("...i->i", &[&m]));
        assert!(matches!(
            run1(
                Op::Einsum {
                    equation: "->".into()
                },
                &[]
            ),
            Err(IrError::Attribute { .. })
        ));
        assert!(shape(
            "ij,jk->ik",
            &[&f(&[1 << 40, 0], &[]), &f(&[0, 1 << 40], &[])]
        ));
        let i = Tensor::from_vec(&[3], vec![1i64, 2, 3]).unwrap();
        assert!(matches!(
            es("ij,j->i", &[&m, &i]),
            Err(IrError::InputDType { input: 1, .. })
        ));
    }
}
