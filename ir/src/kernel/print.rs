//! The kernel IR's text printer: stable, one statement per line, two-space indentation. It
//! never fails: a dangling variable or buffer prints as `%?var3` / `%?param3`, so error
//! messages can quote broken kernels too.

use super::{BufRef, Expr, Kernel, LoopKind, Scalar, Stmt, Ty};
use std::fmt::Write;

/// Prints a kernel in the text form that [`super::parse_kernel`] reads back.
pub fn print_kernel(k: &Kernel) -> String {
    let mut out = String::new();
    let params: Vec<String> = k
        .params
        .iter()
        .map(|p| format!("%{}: {}[{}] {}", p.name, p.dtype, p.len, p.access.name()))
        .collect();
    let _ = writeln!(
        out,
        "kernel @{}({}) grid {} group {} {{",
        k.name,
        params.join(", "),
        dims(&k.launch.grid),
        dims(&k.launch.group)
    );
    for s in &k.shared {
        let _ = writeln!(out, "  shared %{}: {}[{}]", s.name, s.dtype, s.len);
    }
    print_block(k, &k.body, 1, &mut out);
    out.push_str("}\n");
    out
}

/// `[a, b, c]`.
fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn print_block(k: &Kernel, body: &[Stmt], depth: usize, out: &mut String) {
    for s in body {
        print_stmt(k, s, depth, out);
    }
}

/// Prints one statement (and its nested blocks) at an indentation depth.
fn print_stmt(k: &Kernel, s: &Stmt, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    out.push_str(&pad);
    out.push_str(&stmt_head(k, s));
    match s {
        Stmt::Loop { body, .. } => {
            out.push_str(" {\n");
            print_block(k, body, depth + 1, out);
            let _ = writeln!(out, "{pad}}}");
        }
        Stmt::If { then, els, .. } => {
            out.push_str(" {\n");
            print_block(k, then, depth + 1, out);
            if els.is_empty() {
                let _ = writeln!(out, "{pad}}}");
            } else {
                let _ = writeln!(out, "{pad}}} else {{");
                print_block(k, els, depth + 1, out);
                let _ = writeln!(out, "{pad}}}");
            }
        }
        _ => out.push('\n'),
    }
}

/// A statement's own line, without nested blocks (also used to quote it in errors).
pub(super) fn stmt_head(k: &Kernel, s: &Stmt) -> String {
    match s {
        Stmt::Let { var, value } => format!(
            "let {}: {} = {}",
            var_name(k, *var),
            var_ty(k, *var),
            print_expr(k, value)
        ),
        Stmt::Local { var, init } => format!(
            "local {}: {} = {}",
            var_name(k, *var),
            var_ty(k, *var),
            print_expr(k, init)
        ),
        Stmt::Assign { var, value } => {
            format!("set {} = {}", var_name(k, *var), print_expr(k, value))
        }
        Stmt::Store { buf, index, value } => format!(
            "store {}[{}] = {}",
            buf_name(k, *buf),
            print_expr(k, index),
            print_expr(k, value)
        ),
        Stmt::Loop {
            var,
            start,
            end,
            step,
            kind,
            ..
        } => format!(
            "loop {}: {} = {} to {} step {step} {}",
            var_name(k, *var),
            var_ty(k, *var),
            print_expr(k, start),
            print_expr(k, end),
            loop_kind(*kind)
        ),
        Stmt::If { cond, .. } => format!("if {}", print_expr(k, cond)),
        Stmt::Barrier => "barrier".to_string(),
        Stmt::Mma { shape, acc, a, b } => format!(
            "mma {} {}, {}[{}] stride {}, {}[{}] stride {}",
            shape.name(),
            var_name(k, *acc),
            buf_name(k, a.buf),
            print_expr(k, &a.index),
            a.stride,
            buf_name(k, b.buf),
            print_expr(k, &b.index),
            b.stride
        ),
    }
}

/// The spelling of a loop kind.
fn loop_kind(kind: LoopKind) -> String {
    match kind {
        LoopKind::Serial => "serial".into(),
        LoopKind::Unroll => "unroll".into(),
        LoopKind::Vectorize(n) => format!("vectorize({n})"),
        LoopKind::Parallel => "parallel".into(),
    }
}

/// `%name` of a variable, or `%?varN` for a dangling handle.
pub(super) fn var_name(k: &Kernel, v: super::VarId) -> String {
    match k.vars.get(v) {
        Some(info) => format!("%{}", info.name),
        None => format!("%?var{}", v.index()),
    }
}

fn var_ty(k: &Kernel, v: super::VarId) -> String {
    k.vars
        .get(v)
        .map(|i| i.ty.to_string())
        .unwrap_or_else(|| "?".into())
}

/// `%name` of a buffer, or `%?paramN` / `%?sharedN` for a dangling reference.
pub(super) fn buf_name(k: &Kernel, b: BufRef) -> String {
    match (k.buffer(b), b) {
        (Some((name, _, _)), _) => format!("%{name}"),
        (None, BufRef::Param(i)) => format!("%?param{i}"),
        (None, BufRef::Shared(i)) => format!("%?shared{i}"),
    }
}

/// An exact, re-parseable spelling of a constant's value.
pub(super) fn scalar_text(v: Scalar) -> String {
    match v {
        Scalar::Int(i) => i.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Float(f) if f.is_nan() => "nan".into(),
        Scalar::Float(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
        // Debug prints the shortest string that parses back to the same f64, with `.0` or an
        // exponent, so floats and integers stay distinguishable.
        Scalar::Float(f) => format!("{f:?}"),
    }
}

/// Prints an expression in the text form.
pub fn print_expr(k: &Kernel, e: &Expr) -> String {
    let p = |x: &Expr| print_expr(k, x);
    match e {
        Expr::Const { ty, value } => format!("{}:{}", scalar_text(*value), ty_text(*ty)),
        Expr::Var(v) => var_name(k, *v),
        Expr::GroupId(a) => format!("group_id({a})"),
        Expr::LocalId(a) => format!("local_id({a})"),
        Expr::Load { buf, index, lanes } => {
            let n = if *lanes == 1 {
                String::new()
            } else {
                format!("<{lanes}>")
            };
            format!("load{n} {}[{}]", buf_name(k, *buf), p(index))
        }
        Expr::Unary { op, x } => format!("{}({})", op.name(), p(x)),
        Expr::Binary { op, a, b } => format!("{}({}, {})", op.name(), p(a), p(b)),
        Expr::Fma { a, b, c } => format!("fma({}, {}, {})", p(a), p(b), p(c)),
        Expr::Select { cond, a, b } => format!("select({}, {}, {})", p(cond), p(a), p(b)),
        Expr::Cast { to, x } => format!("cast<{to}>({})", p(x)),
        Expr::Splat { x, lanes } => format!("splat<{lanes}>({})", p(x)),
        Expr::Lane { x, lane } => format!("lane<{lane}>({})", p(x)),
        Expr::ReduceLanes { op, x } => format!("{}({})", op.name(), p(x)),
        Expr::ShuffleXor { x, mask } => format!("shuffle_xor<{mask}>({})", p(x)),
    }
}

fn ty_text(ty: Ty) -> String {
    ty.to_string()
}
