//! Scan (opsets 9+) unrolled over its static scan length: each iteration slices the scan
//! inputs (in their direction), imports the body once with the loop-carried state and the
//! slices bound to its inputs, and the per-iteration outputs are stacked along their axes (in
//! their direction). Opset 8's batched form (with `sequence_lens`) is not supported.

use super::compose_kit::{as_output, check_unroll, concat, slice, static_dims, unsqueeze};
use super::error::OnnxError;
use super::import::NodeCtx;
use tessera_ir::{Op, ValueId};

type Outs = Result<Vec<ValueId>, OnnxError>;

/// A per-operand int list attribute: `count` entries (default 0 each).
fn per_operand(ctx: &NodeCtx<'_, '_>, name: &str, count: usize) -> Result<Vec<i64>, OnnxError> {
    match ctx.attrs.ints(name)? {
        None => Ok(vec![0; count]),
        Some(v) if v.len() == count => Ok(v),
        Some(v) => Err(ctx
            .attrs
            .err(name, format!("expected {count} entries, got {}", v.len()))),
    }
}

/// `axis` normalized for rank `rank`.
fn norm_axis(ctx: &NodeCtx<'_, '_>, name: &str, axis: i64, rank: usize) -> Result<i64, OnnxError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a)
    } else {
        Err(ctx
            .attrs
            .err(name, format!("{axis} is out of range for rank {rank}")))
    }
}

/// Scan.
pub(crate) fn scan(ctx: &mut NodeCtx<'_, '_>) -> Outs {
    if ctx.opset < 9 {
        return Err(OnnxError::UnsupportedOp {
            node: ctx.label.to_string(),
            op_type: "Scan".into(),
            domain: String::new(),
            opset: ctx.opset,
        });
    }
    let a = ctx.attrs;
    let body = ctx
        .graph_attr("body")?
        .ok_or_else(|| a.err("body", "required"))?;
    let inputs: Vec<ValueId> = ctx
        .inputs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| a.err(&format!("input {i}"), "Scan operands cannot be absent"))
        })
        .collect::<Result<_, _>>()?;
    let m = match a.int("num_scan_inputs")? {
        Some(m) if m > 0 && m as usize <= inputs.len() => m as usize,
        Some(m) => {
            return Err(a.err(
                "num_scan_inputs",
                format!("{m} does not fit the {} operands", inputs.len()),
            ));
        }
        None => return Err(a.err("num_scan_inputs", "required")),
    };
    let n = inputs.len() - m;
    let k = body.output.len().checked_sub(n).ok_or_else(|| {
        a.err(
            "body",
            format!("the body yields fewer outputs than the {n} state variables"),
        )
    })?;
    let in_axes = per_operand(ctx, "scan_input_axes", m)?;
    let in_dirs = per_operand(ctx, "scan_input_directions", m)?;
    let out_axes = per_operand(ctx, "scan_output_axes", k)?;
    let out_dirs = per_operand(ctx, "scan_output_directions", k)?;
    let (states, scanned) = inputs.split_at(n);
    let mut axes = Vec::with_capacity(m);
    let mut length = None;
    for (j, (&x, &axis)) in scanned.iter().zip(&in_axes).enumerate() {
        let dims = static_dims(ctx, x, n + j)?;
        let ax = norm_axis(ctx, "scan_input_axes", axis, dims.len())?;
        let len = dims.get(ax as usize).copied().unwrap_or(0);
        if length.is_some_and(|l| l != len) {
            return Err(a.err(
                "scan_input_axes",
                "the scan inputs have different lengths along their axes",
            ));
        }
        length = Some(len);
        axes.push(ax);
    }
    let length = length.unwrap_or(0);
    check_unroll(ctx, length)?;
    if length == 0 {
        return Err(OnnxError::UnsupportedType {
            value: format!("{}: Scan inputs", ctx.label),
            kind: "empty scan (zero iterations)",
        });
    }
    let mut state: Vec<ValueId> = states.to_vec();
    let mut stacked: Vec<Vec<ValueId>> = vec![Vec::with_capacity(length); k];
    for i in 0..length {
        let mut bound = state.clone();
        for (j, &x) in scanned.iter().enumerate() {
            let ax = axes.get(j).copied().unwrap_or(0);
            let reverse = in_dirs.get(j).copied().unwrap_or(0) != 0;
            let pos = if reverse { length - 1 - i } else { i } as i64;
            let s = slice(ctx, x, ax, (pos, pos + 1), &format!("iter{i}_in{j}_slice"))?;
            let at = ctx.const_i64(&[ax])?;
            let sq = ctx.emit_aux(
                Op::Squeeze {},
                vec![Some(s), Some(at)],
                &format!("iter{i}_in{j}"),
            )?;
            bound.push(sq);
        }
        let outs = ctx.inline_graph(body, &bound, &format!("iter{i}"))?;
        let (new_state, per_iter) = outs.split_at(n.min(outs.len()));
        state = new_state.to_vec();
        for (slot, &v) in stacked.iter_mut().zip(per_iter) {
            slot.push(v);
        }
    }
    let mut results = state;
    for (j, mut parts) in stacked.into_iter().enumerate() {
        if out_dirs.get(j).copied().unwrap_or(0) != 0 {
            parts.reverse();
        }
        let rank = parts.first().map_or(0, |&p| ctx.ty(p).shape.rank());
        let axis = norm_axis(
            ctx,
            "scan_output_axes",
            out_axes.get(j).copied().unwrap_or(0),
            rank + 1,
        )?;
        let lifted = parts
            .iter()
            .enumerate()
            .map(|(i, &p)| unsqueeze(ctx, p, &[axis], &format!("out{j}_iter{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        results.push(match lifted.as_slice() {
            [single] => *single,
            _ => concat(ctx, &lifted, axis, &format!("out{j}"))?,
        });
    }
    if ctx.num_outputs > results.len() {
        return Err(a.err(
            "outputs",
            format!(
                "the node names {} outputs, the body yields {}",
                ctx.num_outputs,
                results.len()
            ),
        ));
    }
    results.truncate(ctx.num_outputs);
    for v in results.iter_mut() {
        *v = as_output(ctx, *v, "output")?;
    }
    Ok(results)
}
