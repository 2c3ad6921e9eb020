//! Kernel IR → WGSL text. A printer: every scheduling decision was made before (see
//! `tessera_ir::schedule`); this file only spells each statement and expression in WGSL and
//! supplies the few helper functions WGSL lacks (NaN-propagating min/max, `erf`, integer
//! `pow`, Python-style `mod`, bf16 rounding, packed sub-word loads and stores).
//!
//! # Values and storage
//!
//! | kernel dtype | WGSL value | global buffer storage |
//! | --- | --- | --- |
//! | f32, i32, u32 | same | `array<T>` |
//! | f16 | `f32` holding an f16-exact value | `array<f16>` with `enable f16;`, else 16-bit halves of `u32` words (`pack2x16float`) |
//! | f64, i64, u64 (adapter features) | `f64`, `i64`, `u64` | `array<T>` |
//! | bf16 | `f32` holding a bf16-exact value | 16-bit halves of `u32` words |
//! | i8, i16 / u8, u16 | `i32` sign-extended / `u32` masked | bytes / halves of `u32` words |
//! | bool | `bool` | bytes (0 or 1) of `u32` words |
//!
//! Packed buffers that a kernel stores to are `array<atomic<u32>>`: a store clears its bits
//! with `atomicAnd` and sets them with `atomicOr`, so invocations writing neighbouring
//! elements of one word never lose each other's bytes. Workgroup-shared buffers hold one
//! value per element (no packing).
//!
//! Every arithmetic result of a narrow dtype is narrowed again (sign-extended, masked or
//! rounded to bf16), exactly as the kernel IR wraps or rounds every expression.
//!
//! Integer division and remainder by a divisor that is not a non-zero constant go through
//! `tz_nz_T`: a zero divisor is replaced by 1 and sets bit [`STATUS_DIV_ZERO`] of a status
//! word bound after the params (`tz_status`, only in kernels that need it; see
//! [`uses_status`]); the device reads it back when it synchronizes and reports a typed error
//! naming the kernel, as the CUDA and CPU backends do.
//!
//! `shuffle_xor<m>(x)` renders as `subgroupShuffleXor(x, m)` (bools through `u32`) when the
//! adapter has subgroups; the target refuses masks that are not below the adapter's smallest
//! subgroup size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use tessera_ir::DType;
use tessera_ir::kernel::{Access, BinOp, BufRef, Expr, Kernel, KernelInfo, Scalar, Stmt, Ty};
use tessera_ir::op::{BinaryOp, UnaryOp};

/// The declaration of the status word (without its `@group/@binding` prefix): a kernel that
/// divides integers by a value that may be zero binds one `atomic<u32>` after its params.
const STATUS_DECL: &str = "var<storage, read_write> tz_status";

/// Status bit: some invocation divided an integer by zero (the divisor was taken as 1).
pub const STATUS_DIV_ZERO: u32 = 1;

/// True when rendered WGSL binds the status word (at binding `params.len()`).
pub fn uses_status(code: &str) -> bool {
    code.contains(STATUS_DECL)
}

/// Optional WGSL capabilities the renderer may use (from the adapter's features).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WgslFeatures {
    /// `enable f16;` (wgpu `SHADER_F16`).
    pub f16: bool,
    /// `f64` values (wgpu `SHADER_F64`).
    pub f64: bool,
    /// `i64` / `u64` values (wgpu `SHADER_INT64`).
    pub int64: bool,
    /// Subgroup built-ins (wgpu `SUBGROUP`): `shuffle_xor` renders as `subgroupShuffleXor`
    /// (no `enable subgroups;`, which naga 30 rejects; the validator gets
    /// `Capabilities::SUBGROUP`).
    pub subgroups: bool,
}

impl WgslFeatures {
    /// Everything on: what `tessera compile --target vulkan` assumes without an adapter.
    pub const ALL: WgslFeatures = WgslFeatures {
        f16: true,
        f64: true,
        int64: true,
        subgroups: true,
    };
}

/// Why a kernel could not be rendered.
#[derive(Debug)]
pub enum RenderError {
    /// The kernel uses something WGSL (with these features) cannot express.
    Unsupported(String),
    /// A bug: the kernel is not what verification promised.
    Internal(String),
}

type Res<T> = Result<T, RenderError>;

fn unsupported<T>(what: impl Into<String>) -> Res<T> {
    Err(RenderError::Unsupported(what.into()))
}

/// The WGSL type a value of `d` is computed in.
pub fn value_ty(d: DType, f: &WgslFeatures) -> Res<&'static str> {
    Ok(match d {
        DType::F32 | DType::BF16 => "f32",
        DType::F16 => "f32",
        DType::F64 if f.f64 => "f64",
        DType::I8 | DType::I16 | DType::I32 => "i32",
        DType::U8 | DType::U16 | DType::U32 => "u32",
        DType::I64 if f.int64 => "i64",
        DType::U64 if f.int64 => "u64",
        DType::Bool => "bool",
        _ => return unsupported(format!("dtype {d}")),
    })
}

/// Bits per element of a dtype stored packed in `u32` words, or `None` when stored directly.
fn packed_bits(d: DType, f: &WgslFeatures) -> Option<u32> {
    match d {
        DType::I8 | DType::U8 | DType::Bool => Some(8),
        DType::I16 | DType::U16 | DType::BF16 => Some(16),
        DType::F16 if !f.f16 => Some(16),
        _ => None,
    }
}

/// Renders a verified kernel as a WGSL compute shader with entry point `main`.
pub fn render(k: &Kernel, info: &KernelInfo, f: &WgslFeatures) -> Res<String> {
    if info.max_lanes > 1 {
        return unsupported(format!(
            "vector values ({} lanes; the GPU schedule computes on scalars)",
            info.max_lanes
        ));
    }
    if k.launch.group.len() > 3 || k.launch.grid.len() > 3 {
        return Err(RenderError::Internal("launch rank above 3".into()));
    }
    let mut r = Renderer {
        k,
        info,
        f,
        helpers: BTreeMap::new(),
        body: String::new(),
        depth: 1,
        in_const: 0,
        bound: 0,
    };
    for d in &info.dtypes {
        value_ty(*d, f)?;
    }
    r.block(&k.body)?;
    let mut out = String::new();
    let uses = |d: DType| info.dtypes.contains(&d) || k.params.iter().any(|p| p.dtype == d);
    if uses(DType::F16) && f.f16 {
        out.push_str("enable f16;\n");
    }
    let _ = writeln!(out, "// kernel @{}", k.name);
    for (i, p) in k.params.iter().enumerate() {
        let mode = if p.access == Access::Read {
            "read"
        } else {
            "read_write"
        };
        let elem = match packed_bits(p.dtype, f) {
            Some(_) if p.access.can_store() => "atomic<u32>",
            Some(_) => "u32",
            None if p.dtype == DType::F16 => "f16",
            None => value_ty(p.dtype, f)?,
        };
        let _ = writeln!(
            out,
            "@group(0) @binding({i}) var<storage, {mode}> {}: array<{elem}>;",
            param_name(k, i)
        );
    }
    for (i, s) in k.shared.iter().enumerate() {
        let _ = writeln!(
            out,
            "var<workgroup> {}: array<{}, {}>;",
            shared_name(k, i),
            value_ty(s.dtype, f)?,
            s.len.max(1)
        );
    }
    for (i, p) in k.params.iter().enumerate() {
        if let Some(bits) = packed_bits(p.dtype, f) {
            out.push_str(&packed_access(k, i, p.dtype, bits, p.access)?);
        }
    }
    for h in r.helpers.values() {
        out.push_str(h);
    }
    let g = |i: usize| k.launch.group.get(i).copied().unwrap_or(1);
    let _ = writeln!(
        out,
        "@compute @workgroup_size({}, {}, {})\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{",
        g(0),
        g(1),
        g(2)
    );
    out.push_str(&r.body);
    out.push_str("}\n");
    Ok(out)
}

fn ident(prefix: &str, i: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}{i}_{clean}")
}

fn param_name(k: &Kernel, i: usize) -> String {
    ident("p", i, &k.params[i].name)
}

fn shared_name(k: &Kernel, i: usize) -> String {
    ident("s", i, &k.shared[i].name)
}

/// `ld_pN(i)` (and `st_pN(i, v)` for a writable buffer) for a packed param.
fn packed_access(k: &Kernel, i: usize, d: DType, bits: u32, access: Access) -> Res<String> {
    let name = param_name(k, i);
    let per_word = 32 / bits;
    let mask = if bits == 8 { "0xffu" } else { "0xffffu" };
    let shift = format!("(i % {per_word}u) * {bits}u");
    let word = |atomic: bool| {
        if atomic {
            format!("atomicLoad(&{name}[i / {per_word}u])")
        } else {
            format!("{name}[i / {per_word}u]")
        }
    };
    let vt = value_ty(d, &WgslFeatures::ALL)?;
    // `raw` is the element's bits in the low bits of a u32.
    let decode = match d {
        DType::Bool => "raw != 0u".to_string(),
        DType::I8 => "bitcast<i32>(raw << 24u) >> 24u".to_string(),
        DType::I16 => "bitcast<i32>(raw << 16u) >> 16u".to_string(),
        DType::U8 | DType::U16 => "raw".to_string(),
        DType::BF16 => "bitcast<f32>(raw << 16u)".to_string(),
        DType::F16 => "unpack2x16float(raw).x".to_string(),
        _ => return Err(RenderError::Internal(format!("{d} is not packed"))),
    };
    let encode = match d {
        DType::Bool => "select(0u, 1u, v)".to_string(),
        DType::I8 | DType::I16 => format!("bitcast<u32>(v) & {mask}"),
        DType::U8 | DType::U16 => format!("v & {mask}"),
        DType::F16 => format!("pack2x16float(vec2<f32>(v, 0.0f)) & {mask}"),
        _ => "bitcast<u32>(v) >> 16u".to_string(),
    };
    let mut s = String::new();
    if access.can_load() {
        let _ = writeln!(
            s,
            "fn ld_{name}(i: u32) -> {vt} {{\n  let raw = ({} >> ({shift})) & {mask};\n  return {decode};\n}}",
            word(access.can_store())
        );
    }
    if access.can_store() {
        let _ = writeln!(
            s,
            "fn st_{name}(i: u32, v: {vt}) {{\n  let sh = {shift};\n  atomicAnd(&{name}[i / {per_word}u], ~({mask} << sh));\n  atomicOr(&{name}[i / {per_word}u], ({encode}) << sh);\n}}"
        );
    }
    Ok(s)
}

struct Renderer<'k> {
    k: &'k Kernel,
    info: &'k KernelInfo,
    f: &'k WgslFeatures,
    /// Helper functions by name, emitted before `main`.
    helpers: BTreeMap<String, String>,
    body: String,
    depth: usize,
    /// Above 0 while rendering an operation whose operands are all constants (see
    /// [`Renderer::wide_constant`]).
    in_const: usize,
    /// How many constants [`Renderer::wide_constant`] has bound (names `tz_cN`).
    bound: usize,
}

impl Renderer<'_> {
    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.body.push_str("  ");
        }
        self.body.push_str(text);
        self.body.push('\n');
    }

    fn var_name(&self, v: tessera_ir::kernel::VarId) -> Res<String> {
        let info = self
            .k
            .vars
            .get(v)
            .ok_or_else(|| RenderError::Internal("unknown variable".into()))?;
        Ok(ident("v", v.index(), &info.name))
    }

    fn ty(&self, e: &Expr) -> Ty {
        self.info.expr_ty(self.k, e)
    }

    fn vt(&self, d: DType) -> Res<&'static str> {
        value_ty(d, self.f)
    }

    fn block(&mut self, stmts: &[Stmt]) -> Res<()> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Res<()> {
        match s {
            Stmt::Let { var, value } | Stmt::Local { var, init: value } => {
                let kw = if matches!(s, Stmt::Let { .. }) {
                    "let"
                } else {
                    "var"
                };
                let name = self.var_name(*var)?;
                let vt = self.vt(self.ty(value).dtype)?;
                let e = self.expr(value)?;
                self.line(&format!("{kw} {name}: {vt} = {e};"));
            }
            Stmt::Assign { var, value } => {
                let name = self.var_name(*var)?;
                let e = self.expr(value)?;
                self.line(&format!("{name} = {e};"));
            }
            Stmt::Store { buf, index, value } => {
                let i = self.index(index)?;
                let v = self.expr(value)?;
                let line = match buf {
                    BufRef::Param(p) => {
                        let name = param_name(self.k, *p);
                        let d = self.k.params[*p].dtype;
                        if packed_bits(d, self.f).is_some() {
                            format!("st_{name}({i}, {v});")
                        } else if d == DType::F16 {
                            format!("{name}[{i}] = f16({v});")
                        } else {
                            format!("{name}[{i}] = {v};")
                        }
                    }
                    BufRef::Shared(s) => format!("{}[{i}] = {v};", shared_name(self.k, *s)),
                };
                self.line(&line);
            }
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
                ..
            } => {
                let name = self.var_name(*var)?;
                let ty = self
                    .k
                    .vars
                    .get(*var)
                    .map(|v| v.ty)
                    .ok_or_else(|| RenderError::Internal("unknown loop variable".into()))?;
                let vt = self.vt(ty.dtype)?;
                let start = self.expr(start)?;
                let end = self.expr(end)?;
                let step = self.literal(ty.dtype, Scalar::Int(i128::from(*step)))?;
                self.line("{");
                self.depth += 1;
                self.line(&format!("let end_{name}: {vt} = {end};"));
                self.line(&format!("var {name}: {vt} = {start};"));
                self.line(&format!("while ({name} < end_{name}) {{"));
                self.depth += 1;
                self.block(body)?;
                // `end - i` cannot overflow while `i < end` and both are in the index range;
                // the test stops before `i + step` could.
                self.line(&format!("if (end_{name} - {name} <= {step}) {{ break; }}"));
                self.line(&format!("{name} = {name} + {step};"));
                self.depth -= 1;
                self.line("}");
                self.depth -= 1;
                self.line("}");
            }
            Stmt::If { cond, then, els } => {
                let c = self.expr(cond)?;
                self.line(&format!("if ({c}) {{"));
                self.depth += 1;
                self.block(then)?;
                self.depth -= 1;
                if els.is_empty() {
                    self.line("}");
                } else {
                    self.line("} else {");
                    self.depth += 1;
                    self.block(els)?;
                    self.depth -= 1;
                    self.line("}");
                }
            }
            Stmt::Barrier => self.line("workgroupBarrier();"),
            Stmt::Mma { .. } => {
                return unsupported(
                    "mma (the Vulkan target declares no matrix-multiply-accumulate)",
                );
            }
        }
        Ok(())
    }

    /// An index expression as `u32`.
    fn index(&mut self, e: &Expr) -> Res<String> {
        let t = self.ty(e).dtype;
        let s = self.expr(e)?;
        Ok(if t == DType::U32 {
            s
        } else {
            format!("u32({s})")
        })
    }

    /// A constant of dtype `d` as a WGSL expression of its value type.
    fn literal(&mut self, d: DType, v: Scalar) -> Res<String> {
        let vt = self.vt(d)?;
        Ok(match v {
            Scalar::Bool(b) => match d {
                DType::Bool => b.to_string(),
                _ => self.literal(d, Scalar::Int(i128::from(b)))?,
            },
            Scalar::Int(i) if d.is_float() => self.literal(d, Scalar::Float(i as f64))?,
            Scalar::Float(x) if !d.is_float() => {
                if d == DType::Bool {
                    (x != 0.0).to_string()
                } else {
                    self.literal(d, Scalar::Int(x as i128))?
                }
            }
            Scalar::Int(i) => match vt {
                "bool" => (i != 0).to_string(),
                "i32" => {
                    let i = i as i32;
                    if i == i32::MIN {
                        "i32(-2147483647 - 1)".into()
                    } else {
                        format!("{i}i")
                    }
                }
                "u32" => format!("{}u", i as u32),
                "i64" => {
                    let i = i as i64;
                    if i == i64::MIN {
                        "(-9223372036854775807li - 1li)".into()
                    } else {
                        format!("{i}li")
                    }
                }
                "u64" => format!("{}lu", i as u64),
                _ => return Err(RenderError::Internal(format!("int literal of {d}"))),
            },
            Scalar::Float(x) => self.float_literal(d, vt, x),
        })
    }

    fn float_literal(&mut self, d: DType, vt: &str, x: f64) -> String {
        // Round to the dtype first, so the literal is exact.
        let (x, suffix) = match d {
            DType::F16 => (half::f16::from_f64(x).to_f64(), "f"),
            DType::BF16 => (half::bf16::from_f64(x).to_f64(), "f"),
            DType::F64 => (x, "lf"),
            _ => (f64::from(x as f32), "f"),
        };
        if x.is_nan() {
            return self.special(vt, "nan");
        }
        if x.is_infinite() {
            let inf = self.special(vt, "inf");
            return if x < 0.0 { format!("(-{inf})") } else { inf };
        }
        if x == 0.0 && x.is_sign_negative() {
            return format!("(-0.0{suffix})");
        }
        format!("{x:e}{suffix}")
    }

    /// `tz_inf_T()` / `tz_nan_T()`: runtime values (WGSL constant expressions may not be
    /// infinite or NaN).
    fn special(&mut self, vt: &str, what: &str) -> String {
        let name = format!("tz_{what}_{vt}");
        let (inf_bits, nan_bits) = ("0x7f800000u", "0x7fc00000u");
        let bits = if what == "inf" { inf_bits } else { nan_bits };
        let body = match vt {
            "f32" => format!("bitcast<f32>({bits} + tz_zero)"),
            _ => format!("{vt}(bitcast<f32>({bits} + tz_zero))"),
        };
        self.helpers
            .insert("tz_zero".into(), "var<private> tz_zero: u32 = 0u;\n".into());
        self.helpers.insert(
            name.clone(),
            format!("fn {name}() -> {vt} {{\n  return {body};\n}}\n"),
        );
        format!("{name}()")
    }

    fn helper(&mut self, name: String, code: String) -> String {
        self.helpers.entry(name.clone()).or_insert(code);
        name
    }

    /// `tz_nz_T(b)`: an integer divisor that is never zero — a zero divisor becomes 1 (as on
    /// CUDA) and sets [`STATUS_DIV_ZERO`] in the status word, which the device turns into a
    /// typed error naming the kernel.
    fn checked_divisor(&mut self, d: DType, b: String) -> Res<String> {
        let vt = self.vt(d)?;
        let binding = self.k.params.len();
        self.helpers.insert(
            "tz_status".into(),
            format!("@group(0) @binding({binding}) {STATUS_DECL}: atomic<u32>;\n"),
        );
        let h = format!("tz_nz_{vt}");
        let code = format!(
            "fn {h}(b: {vt}) -> {vt} {{\n  if (b == {vt}(0)) {{\n    atomicOr(&tz_status, {STATUS_DIV_ZERO}u);\n    return {vt}(1);\n  }}\n  return b;\n}}\n"
        );
        Ok(format!("{}({b})", self.helper(h, code)))
    }

    /// `tz_fmod_T`: C's `fmod`. WGSL's `%` is `a - b * trunc(a / b)`: NaN for an infinite
    /// divisor, where C's fmod gives `a` (for finite `a`).
    fn fmod_helper(&mut self, vt: &str) -> String {
        let h = format!("tz_fmod_{vt}");
        let (bits, abs_mask, inf) = if vt == "f64" {
            ("u64", "0x7ffffffffffffffflu", "0x7ff0000000000000lu")
        } else {
            ("u32", "0x7fffffffu", "0x7f800000u")
        };
        let code = format!(
            "fn {h}(a: {vt}, b: {vt}) -> {vt} {{\n  let bi = (bitcast<{bits}>(b) & {abs_mask}) == {inf};\n  let ai = (bitcast<{bits}>(a) & {abs_mask}) == {inf};\n  if (bi && !ai) {{ return a; }}\n  return a % b;\n}}\n"
        );
        self.helper(h, code)
    }

    /// `tz_isnan_T`: a NaN test on the bits (drivers may fold `x != x` to false).
    fn isnan(&mut self, vt: &str) -> String {
        let test = match vt {
            "f32" => "(bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u",
            "f64" if self.f.int64 => {
                "(bitcast<u64>(x) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu"
            }
            _ => "x != x",
        };
        let name = format!("tz_isnan_{vt}");
        let code = format!("fn {name}(x: {vt}) -> bool {{\n  return {test};\n}}\n");
        self.helper(name, code)
    }

    /// A 64-bit constant (f64, i64, u64) that is an operand of an all-constant operation,
    /// bound through a typed `let` before the statement being rendered. naga evaluates
    /// constant expressions while parsing and its evaluator refuses several 64-bit ones
    /// (`abs(0lf)`, `f64(0li)`, `f32(0lf)`, `bool(0lu)`, ...); WGSL says an expression that
    /// names a `let` is not constant, so the operation is computed at run time instead.
    fn wide_constant(&mut self, d: DType, value: Scalar) -> Res<String> {
        let lit = self.literal(d, value)?;
        let vt = self.vt(d)?;
        if self.in_const == 0 || !matches!(vt, "f64" | "i64" | "u64") {
            return Ok(lit);
        }
        let name = format!("tz_c{}", self.bound);
        self.bound += 1;
        self.line(&format!("let {name}: {vt} = {lit};"));
        Ok(name)
    }

    fn expr(&mut self, e: &Expr) -> Res<String> {
        // Operands of an all-constant operation go through `wide_constant`.
        let all_const = !matches!(e, Expr::Const { .. }) && is_constant(e);
        self.in_const += usize::from(all_const);
        let s = self.expr_inner(e);
        self.in_const -= usize::from(all_const);
        s
    }

    fn expr_inner(&mut self, e: &Expr) -> Res<String> {
        Ok(match e {
            Expr::Const { ty, value } => self.wide_constant(ty.dtype, *value)?,
            Expr::Var(v) => self.var_name(*v)?,
            Expr::GroupId(a) => format!("wid.{}", axis(*a)?),
            Expr::LocalId(a) => format!("lid.{}", axis(*a)?),
            Expr::Load { buf, index, .. } => {
                let i = self.index(index)?;
                match buf {
                    BufRef::Param(p) => {
                        let name = param_name(self.k, *p);
                        let d = self.k.params[*p].dtype;
                        if packed_bits(d, self.f).is_some() {
                            format!("ld_{name}({i})")
                        } else if d == DType::F16 {
                            format!("f32({name}[{i}])")
                        } else {
                            format!("{name}[{i}]")
                        }
                    }
                    BufRef::Shared(s) => format!("{}[{i}]", shared_name(self.k, *s)),
                }
            }
            Expr::Unary { op, x } => {
                let t = self.ty(x).dtype;
                let xs = self.expr(x)?;
                self.unary(*op, t, xs)?
            }
            Expr::Binary { op, a, b } => {
                let t = self.ty(a).dtype;
                let (sa, mut sb) = (self.expr(a)?, self.expr(b)?);
                let divides = matches!(
                    op,
                    BinOp::Op(BinaryOp::Div | BinaryOp::Mod | BinaryOp::FMod)
                );
                let nonzero_const =
                    matches!(**b, Expr::Const { value: Scalar::Int(v), .. } if v != 0);
                if divides && t.is_int() && !nonzero_const {
                    sb = self.checked_divisor(t, sb)?;
                }
                self.binary(*op, t, sa, sb)?
            }
            Expr::Fma { a, b, c } => {
                let t = self.ty(a).dtype;
                let (sa, sb, sc) = (self.expr(a)?, self.expr(b)?, self.expr(c)?);
                if t == DType::F64 {
                    // One rounding either way: an f64 fma is exact before rounding.
                    format!("fma({sa}, {sb}, {sc})")
                } else {
                    self.narrow(t, format!("fma({sa}, {sb}, {sc})"))
                }
            }
            Expr::Select { cond, a, b } => {
                let (c, sa, sb) = (self.expr(cond)?, self.expr(a)?, self.expr(b)?);
                format!("select({sb}, {sa}, {c})")
            }
            Expr::Cast { to, x } => {
                let from = self.ty(x).dtype;
                let xs = self.expr(x)?;
                self.cast(from, *to, xs)?
            }
            Expr::Splat { x, lanes: 1 } | Expr::Lane { x, lane: 0 } => self.expr(x)?,
            Expr::ReduceLanes { x, .. } if self.ty(x).lanes == 1 => self.expr(x)?,
            Expr::Splat { .. } | Expr::Lane { .. } | Expr::ReduceLanes { .. } => {
                return unsupported("vector values");
            }
            Expr::ShuffleXor { x, mask } => {
                if !self.f.subgroups {
                    return unsupported("shuffle_xor (the adapter has no subgroup operations)");
                }
                let d = self.ty(x).dtype;
                let xs = self.expr(x)?;
                match value_ty(d, self.f)? {
                    "f32" | "i32" | "u32" => format!("subgroupShuffleXor({xs}, {mask}u)"),
                    "bool" => {
                        format!("(subgroupShuffleXor(select(0u, 1u, {xs}), {mask}u) != 0u)")
                    }
                    other => return unsupported(format!("shuffle_xor of {other} values")),
                }
            }
        })
    }

    /// Re-narrows an arithmetic result of a narrow dtype (wrap, mask or round to bf16).
    fn narrow(&mut self, d: DType, s: String) -> String {
        match d {
            DType::I8 => format!("(({s}) << 24u) >> 24u"),
            DType::I16 => format!("(({s}) << 16u) >> 16u"),
            DType::U8 => format!("(({s}) & 0xffu)"),
            DType::U16 => format!("(({s}) & 0xffffu)"),
            DType::BF16 => {
                let f = self.bf16_round();
                format!("{f}({s})")
            }
            DType::F16 if self.f.f16 => format!("f32(f16({s}))"),
            DType::F16 => format!("unpack2x16float(pack2x16float(vec2<f32>({s}, 0.0f))).x"),
            _ => s,
        }
    }

    /// `tz_bf16(x)`: `x` rounded to the nearest bf16 (ties to even), as an f32.
    fn bf16_round(&mut self) -> String {
        self.helper(
            "tz_bf16".into(),
            "fn tz_bf16(x: f32) -> f32 {\n  let b = bitcast<u32>(x);\n  if ((b & 0x7fffffffu) > 0x7f800000u) { return bitcast<f32>(b | 0x00400000u); }\n  let r = b + 0x7fffu + ((b >> 16u) & 1u);\n  return bitcast<f32>(r & 0xffff0000u);\n}\n".into(),
        )
    }

    /// A float math builtin; f16 and f64 go through f32 (WGSL/SPIR-V's extended math is
    /// 32-bit at most on many drivers).
    fn math(&mut self, d: DType, f: &str, x: String) -> Res<String> {
        Ok(match d {
            DType::F32 => format!("{f}({x})"),
            DType::BF16 | DType::F16 => self.narrow(d, format!("{f}({x})")),
            DType::F64 => format!("f64({f}(f32({x})))"),
            _ => return Err(RenderError::Internal(format!("{f} of {d}"))),
        })
    }

    fn unary(&mut self, op: UnaryOp, d: DType, x: String) -> Res<String> {
        use UnaryOp as U;
        let vt = self.vt(d)?;
        let float = d.is_float();
        let one = if float {
            self.literal(d, Scalar::Float(1.0))?
        } else {
            String::new()
        };
        Ok(match op {
            U::Identity => x,
            U::Neg if d == DType::Bool => x,
            U::Neg if d.is_unsigned_int() => self.narrow(d, format!("(0{}- {x})", zero_suffix(vt))),
            U::Neg => self.narrow(d, format!("(-({x}))")),
            U::Abs if d.is_unsigned_int() || d == DType::Bool => x,
            U::Abs => self.narrow(d, format!("abs({x})")),
            U::Sign if d.is_unsigned_int() => {
                format!("select(0{z}, 1{z}, ({x}) > 0{z})", z = zero_suffix(vt))
            }
            U::Sign if float => {
                let h = format!("tz_sign_{vt}");
                let nan = self.isnan(vt);
                let code = format!(
                    "fn {h}(x: {vt}) -> {vt} {{\n  if ({nan}(x)) {{ return x; }}\n  return sign(x);\n}}\n"
                );
                format!("{}({x})", self.helper(h, code))
            }
            U::Sign => format!("sign({x})"),
            U::Not => format!("(!({x}))"),
            U::IsNaN if float => format!("{}({x})", self.isnan(vt)),
            U::IsNaN => "false".into(),
            U::BitwiseNot => self.narrow(d, format!("(~({x}))")),
            U::Relu if float => {
                let zero = self.literal(d, Scalar::Float(0.0))?;
                let h = format!("tz_relu_{vt}");
                let code = format!(
                    "fn {h}(x: {vt}) -> {vt} {{\n  return select(x, {zero}, x < {zero});\n}}\n"
                );
                format!("{}({x})", self.helper(h, code))
            }
            U::Relu if d.is_signed_int() => format!("max({x}, 0{})", zero_suffix(vt)),
            U::Relu => x,
            U::Floor | U::Ceil | U::Round if !float => x,
            U::Floor => self.narrow(d, format!("floor({x})")),
            U::Ceil => self.narrow(d, format!("ceil({x})")),
            U::Round => self.narrow(d, format!("round({x})")),
            _ if !float => {
                return unsupported(format!("`{}` on {d}", op.name()));
            }
            U::Sqrt => self.narrow(d, format!("sqrt({x})")),
            U::Reciprocal => self.narrow(d, format!("({one} / ({x}))")),
            U::Exp => self.math(d, "exp", x)?,
            U::Log => {
                let h = self.helper("tz_log".into(), LOG.into());
                self.math(d, &h, x)?
            }
            U::Sin => self.math(d, "sin", x)?,
            U::Cos => self.math(d, "cos", x)?,
            U::Tan => self.math(d, "tan", x)?,
            U::Asin => self.math(d, "asin", x)?,
            U::Acos => self.math(d, "acos", x)?,
            U::Atan => {
                self.isnan("f32");
                let h = self.helper("tz_atan".into(), ATAN.into());
                self.math(d, &h, x)?
            }
            U::Sinh => self.math(d, "sinh", x)?,
            U::Cosh => self.math(d, "cosh", x)?,
            U::Asinh => {
                let h = self.helper("tz_asinh".into(), ASINH.into());
                self.math(d, &h, x)?
            }
            U::Acosh => {
                self.special("f32", "nan");
                let h = self.helper("tz_acosh".into(), ACOSH.into());
                self.math(d, &h, x)?
            }
            U::Atanh => self.math(d, "atanh", x)?,
            U::Tanh => {
                let h = self.helper("tz_tanh".into(), TANH.into());
                self.math(d, &h, x)?
            }
            U::Erf => {
                let h = self.helper("tz_erf".into(), ERF.into());
                self.math(d, &h, x)?
            }
            U::Sigmoid => {
                let h = self.helper(
                    "tz_sigmoid".into(),
                    "fn tz_sigmoid(x: f32) -> f32 {\n  return 1.0f / (1.0f + exp(-x));\n}\n".into(),
                );
                self.math(d, &h, x)?
            }
            U::Softplus => {
                let h = self.helper("tz_softplus".into(), SOFTPLUS.into());
                self.math(d, &h, x)?
            }
            U::Softsign => self.narrow(d, format!("(({x}) / ({one} + abs({x})))")),
            U::HardSwish => {
                // Plain arithmetic: computed in the value type (f64 stays f64).
                let h = format!("tz_hard_swish_{vt}");
                let code = format!(
                    "fn {h}(x: {vt}) -> {vt} {{\n  return x * clamp(x / {vt}(6) + {vt}(0.5), {vt}(0), {vt}(1));\n}}\n"
                );
                let call = format!("{}({x})", self.helper(h, code));
                self.narrow(d, call)
            }
            U::Mish => {
                self.helper("tz_softplus".into(), SOFTPLUS.into());
                self.helper("tz_tanh".into(), TANH.into());
                let h = self.helper(
                    "tz_mish".into(),
                    "fn tz_mish(x: f32) -> f32 {\n  return x * tz_tanh(tz_softplus(x));\n}\n"
                        .into(),
                );
                self.math(d, &h, x)?
            }
        })
    }

    fn binary(&mut self, op: BinOp, d: DType, a: String, b: String) -> Res<String> {
        use BinaryOp as B;
        let vt = self.vt(d)?;
        let float = d.is_float();
        let infix = |o: &str| format!("(({a}) {o} ({b}))");
        let op = match op {
            BinOp::Min | BinOp::Max => {
                let f = if op == BinOp::Min { "min" } else { "max" };
                return Ok(if d == DType::Bool {
                    infix(if op == BinOp::Min { "&&" } else { "||" })
                } else if float {
                    let h = format!("tz_{f}_{vt}");
                    let nan = self.isnan(vt);
                    let code = format!(
                        "fn {h}(a: {vt}, b: {vt}) -> {vt} {{\n  if ({nan}(a)) {{ return a; }}\n  if ({nan}(b)) {{ return b; }}\n  return {f}(a, b);\n}}\n"
                    );
                    format!("{}({a}, {b})", self.helper(h, code))
                } else {
                    format!("{f}({a}, {b})")
                });
            }
            BinOp::Op(op) => op,
        };
        Ok(match op {
            B::Add => self.narrow(d, infix("+")),
            B::Sub => self.narrow(d, infix("-")),
            B::Mul => self.narrow(d, infix("*")),
            B::Div => self.narrow(d, infix("/")),
            B::FMod if float => {
                let h = self.fmod_helper(vt);
                self.narrow(d, format!("{h}({a}, {b})"))
            }
            B::FMod => self.narrow(d, infix("%")),
            B::Mod if float => {
                // Python's `mod` from C's `fmod` (which keeps `a` for an infinite divisor): a
                // non-zero remainder takes the divisor's sign, a zero one is 0 with the
                // divisor's sign; NaN stays NaN, tested explicitly (drivers may fold the
                // comparisons of a NaN).
                let fm = self.fmod_helper(vt);
                let nan = self.isnan(vt);
                let h = format!("tz_pymod_{vt}");
                let code = format!(
                    "fn {h}(a: {vt}, b: {vt}) -> {vt} {{\n  let r = {fm}(a, b);\n  if ({nan}(r) || {nan}(b)) {{ return r + b; }}\n  if (r == {vt}(0)) {{ return select({vt}(0), -{vt}(0), b < {vt}(0)); }}\n  if ((r < {vt}(0)) != (b < {vt}(0))) {{ return r + b; }}\n  return r;\n}}\n"
                );
                let call = format!("{}({a}, {b})", self.helper(h, code));
                self.narrow(d, call)
            }
            B::Mod if d.is_unsigned_int() => infix("%"),
            B::Mod => {
                let h = format!("tz_mod_{vt}");
                let zero = format!("{vt}(0)");
                let code = format!(
                    "fn {h}(a: {vt}, b: {vt}) -> {vt} {{\n  let r = a % b;\n  if (r != {zero} && ((r < {zero}) != (b < {zero}))) {{ return r + b; }}\n  return r;\n}}\n"
                );
                let call = format!("{}({a}, {b})", self.helper(h, code));
                self.narrow(d, call)
            }
            B::Pow if float => {
                self.helpers
                    .insert("tz_zero".into(), "var<private> tz_zero: u32 = 0u;\n".into());
                self.isnan("f32");
                let h = self.helper("tz_pow".into(), POW.into());
                match d {
                    DType::F32 => format!("{h}({a}, {b})"),
                    DType::BF16 | DType::F16 => self.narrow(d, format!("{h}({a}, {b})")),
                    _ => format!("{vt}({h}(f32({a}), f32({b})))"),
                }
            }
            B::Pow => {
                let h = format!("tz_pow_{vt}");
                let (zero, one) = (format!("{vt}(0)"), format!("{vt}(1)"));
                let neg = if d.is_signed_int() {
                    format!(
                        "  if (e < {zero}) {{\n    if (x == {one}) {{ return {one}; }}\n    if (x == -{one}) {{ return select({one}, -{one}, (e % {vt}(2)) != {zero}); }}\n    return {zero};\n  }}\n"
                    )
                } else {
                    String::new()
                };
                let code = format!(
                    "fn {h}(x: {vt}, e0: {vt}) -> {vt} {{\n  var e = e0;\n{neg}  var acc = {one};\n  var sq = x;\n  while (e > {zero}) {{\n    if ((e & {one}) == {one}) {{ acc = acc * sq; }}\n    sq = sq * sq;\n    e = e >> {shift};\n  }}\n  return acc;\n}}\n",
                    shift = "1u"
                );
                let call = format!("{}({a}, {b})", self.helper(h, code));
                self.narrow(d, call)
            }
            B::BitShiftLeft | B::BitShiftRight => {
                let bits = 8 * d.size_bytes();
                let o = if op == B::BitShiftLeft { "<<" } else { ">>" };
                let z = zero_suffix(vt);
                let amount = if vt == "u32" {
                    "(b)".to_string()
                } else {
                    "u32(b)".to_string()
                };
                let h = format!("tz_{}_{}{bits}", op.name(), vt);
                let code = format!(
                    "fn {h}(a: {vt}, b: {vt}) -> {vt} {{\n  if (b >= {bits}{z}) {{ return 0{z}; }}\n  return a {o} {amount};\n}}\n"
                );
                let call = format!("{}({a}, {b})", self.helper(h, code));
                self.narrow(d, call)
            }
            B::BitwiseAnd => infix("&"),
            B::BitwiseOr => infix("|"),
            B::BitwiseXor => infix("^"),
            B::And => infix("&&"),
            B::Or => infix("||"),
            B::Xor => infix("!="),
            B::Equal => infix("=="),
            B::Less => infix("<"),
            B::LessOrEqual => infix("<="),
            B::Greater => infix(">"),
            B::GreaterOrEqual => infix(">="),
            B::PRelu => return unsupported("`prelu` in kernel IR"),
        })
    }

    /// A conversion with the graph `Cast`'s semantics.
    fn cast(&mut self, from: DType, to: DType, x: String) -> Res<String> {
        if from == to {
            return Ok(x);
        }
        let tv = self.vt(to)?;
        let fv = self.vt(from)?;
        if to == DType::Bool {
            return Ok(if from == DType::Bool {
                x
            } else {
                match fv {
                    // Compare the bits: drivers that flush subnormals to zero would call a
                    // subnormal (e.g. a small bf16 decoded to f32) equal to 0.
                    "f32" => format!("((bitcast<u32>({x}) & 0x7fffffffu) != 0u)"),
                    "f64" => format!("((bitcast<u64>({x}) & 0x7ffffffffffffffflu) != 0lu)"),
                    _ => format!("(({x}) != {fv}(0))"),
                }
            });
        }
        if from == DType::Bool {
            let one = self.literal(to, Scalar::Int(1))?;
            let zero = self.literal(to, Scalar::Int(0))?;
            return Ok(format!("select({zero}, {one}, {x})"));
        }
        if to.is_float() {
            // int → float and float → float: one conversion (via f32 for bf16).
            return Ok(match (to, from) {
                (DType::BF16 | DType::F16, _) => {
                    let inner = if fv == "f32" { x } else { format!("f32({x})") };
                    self.narrow(to, inner)
                }
                _ => format!("{tv}({x})"),
            });
        }
        if from.is_float() {
            // Truncate, saturate to the range, NaN → 0.
            let (lo, hi) = to
                .int_range()
                .ok_or_else(|| RenderError::Internal(format!("range of {to}")))?;
            let wide = if from == DType::F64 { "f64" } else { "f32" };
            let xw = if fv == wide {
                x
            } else {
                format!("{wide}({x})")
            };
            let (flo, fhi) = (bound(lo, wide, false), bound(hi, wide, true));
            // The first float above the largest in-range one: from there on the result is
            // the type's maximum, which the float type may not represent (i32::MAX in f32).
            let above = if wide == "f64" {
                fhi.next_up()
            } else {
                f64::from((fhi as f32).next_up())
            };
            let h = format!("tz_{wide}_to_{}", to.name());
            let lit = |v: f64| {
                if wide == "f64" {
                    format!("{v:e}lf")
                } else {
                    format!("{v:e}f")
                }
            };
            let nan = self.isnan(wide);
            // The maximum as a literal of the WGSL value type (i32/u32 for sub-word types).
            let max = match tv {
                "i32" => format!("{}i", hi as i32),
                "u32" => format!("{}u", hi as u32),
                "i64" => format!("{}li", hi as i64),
                "u64" => format!("{}lu", hi as u64),
                _ => return Err(RenderError::Internal(format!("cast to {to} as {tv}"))),
            };
            let code = format!(
                "fn {h}(x: {wide}) -> {tv} {{\n  if ({nan}(x)) {{ return {tv}(0); }}\n  if (x >= {}) {{ return {max}; }}\n  return {tv}(clamp(trunc(x), {}, {}));\n}}\n",
                lit(above),
                lit(flo),
                lit(fhi)
            );
            return Ok(format!("{}({xw})", self.helper(h, code)));
        }
        // int → int: wrap (two's complement).
        Ok(match to {
            DType::I8 | DType::I16 => {
                let v32 = int_to_32(from, "i32", x);
                self.narrow(to, v32)
            }
            DType::U8 | DType::U16 => {
                let v32 = int_to_32(from, "u32", x);
                self.narrow(to, v32)
            }
            DType::I32 | DType::U32 => int_to_32(from, tv, x),
            // See `U32_TO_I64`.
            DType::I64 if fv == "u32" => {
                let h = self.helper("tz_u32_to_i64".into(), U32_TO_I64.into());
                format!("{h}({x})")
            }
            DType::I64 => format!("i64({x})"),
            DType::U64 if from.is_signed_int() => format!("u64(i64({x}))"),
            DType::U64 => format!("u64({x})"),
            _ => return unsupported(format!("cast from {from} to {to}")),
        })
    }
}

/// True when `e` reads nothing (no variable, load or id): naga would evaluate it while parsing.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Const { .. } => true,
        Expr::Var(_)
        | Expr::GroupId(_)
        | Expr::LocalId(_)
        | Expr::Load { .. }
        | Expr::ShuffleXor { .. } => false,
        Expr::Unary { x, .. }
        | Expr::Cast { x, .. }
        | Expr::Splat { x, .. }
        | Expr::Lane { x, .. }
        | Expr::ReduceLanes { x, .. } => is_constant(x),
        Expr::Binary { a, b, .. } => is_constant(a) && is_constant(b),
        Expr::Fma { a, b, c } => is_constant(a) && is_constant(b) && is_constant(c),
        Expr::Select { cond, a, b } => is_constant(cond) && is_constant(a) && is_constant(b),
    }
}

/// An integer value as a 32-bit WGSL integer of type `t`, keeping the low 32 bits.
fn int_to_32(from: DType, t: &str, x: String) -> String {
    match (from, t) {
        // Keep the low 32 bits in the source's signedness, then reinterpret.
        (DType::U64, "i32") => format!("bitcast<i32>(u32({x}))"),
        (DType::I64, "u32") => format!("bitcast<u32>(i32({x}))"),
        _ => format!("{t}({x})"),
    }
}

/// The float of type `wide` (`f32` or `f64`) nearest the integer bound `v` that lies inside
/// the range (rounded toward zero when `v` is not representable).
fn bound(v: i128, wide: &str, hi: bool) -> f64 {
    if wide == "f64" {
        let f = v as f64;
        if hi && (f as i128) > v {
            f.next_down()
        } else if !hi && (f as i128) < v {
            f.next_up()
        } else {
            f
        }
    } else {
        let f = v as f32;
        let f = if hi && (f as i128) > v {
            f.next_down()
        } else if !hi && (f as i128) < v {
            f.next_up()
        } else {
            f
        };
        f64::from(f)
    }
}

fn zero_suffix(vt: &str) -> &'static str {
    match vt {
        "u32" => "u",
        "i32" => "i",
        "i64" => "li",
        "u64" => "lu",
        _ => "",
    }
}

fn axis(a: u8) -> Res<char> {
    match a {
        0 => Ok('x'),
        1 => Ok('y'),
        2 => Ok('z'),
        _ => Err(RenderError::Internal(format!("launch axis {a}"))),
    }
}

/// `u32` → `i64` without sign extension: naga writes `i64(u32)` as `OpSConvert`, which
/// extends the top bit (4294967294u would become -2). The low 31 bits convert as a
/// non-negative `i32`; the top bit adds 2^31.
const U32_TO_I64: &str = "fn tz_u32_to_i64(x: u32) -> i64 {
  return i64(bitcast<i32>(x & 0x7fffffffu)) + select(0li, 2147483648li, x >= 0x80000000u);
}
";

/// log with subnormal arguments scaled into the normal range first: lavapipe's `log` reads a
/// subnormal's exponent field as if it were normal (log(1.5e-39) came out as -87.9, not
/// -89.5). Scaling by 2^24 is exact, and so is the correction 24 ln 2 to f32 precision.
const LOG: &str = "fn tz_log(x: f32) -> f32 {
  if (x > 0.0f && x < 1.17549435e-38f) { return log(x * 16777216.0f) - 16.6355323f; }
  return log(x);
}
";

/// atan that keeps a NaN (lavapipe's `atan` gives 0 for some NaN encodings).
const ATAN: &str = "fn tz_atan(x: f32) -> f32 {
  if (tz_isnan_f32(x)) { return x; }
  return atan(x);
}
";

/// asinh without squaring a large argument: drivers compute `log(x + sqrt(x * x + 1))`,
/// whose `x * x` overflows f32 above ~1.8e19. From 2^16 on, asinh |x| = ln |x| + ln 2 to f32
/// precision (the next term, 1 / (4 x^2), is below 2^-34).
const ASINH: &str = "fn tz_asinh(x: f32) -> f32 {
  let a = abs(x);
  if (a >= 65536.0f) { return sign(x) * (log(a) + 0.693147181f); }
  return asinh(x);
}
";

/// acosh without squaring a large argument (as `tz_asinh`), and NaN below 1: drivers'
/// `log(x + sqrt(x * x - 1))` gives -inf or +inf for large negative arguments.
const ACOSH: &str = "fn tz_acosh(x: f32) -> f32 {
  if (x < 1.0f) { return tz_nan_f32(); }
  if (x >= 65536.0f) { return log(x) + 0.693147181f; }
  return acosh(x);
}
";

const ERF: &str = "fn tz_erf(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5f) {
    let z = x * x;
    return x * 1.1283791671f * (1.0f + z * (-0.3333333333f + z * (0.1f + z * (-0.0238095238f + z * (0.0046296296f + z * -0.0007575758f)))));
  }
  if (a > 4.0f) { return sign(x); }
  // erfc by a Chebyshev-fitted exponential (fractional error below 1.2e-7).
  let t = 1.0f / (1.0f + 0.5f * a);
  let y = t * exp(-a * a - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return sign(x) * (1.0f - y);
}
";

/// tanh without the cancellation of `(e^2x - 1) / (e^2x + 1)` near 0 (Taylor series there)
/// and without overflow for large arguments.
const TANH: &str = "fn tz_tanh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.1f) {
    let z = x * x;
    return x * (1.0f + z * (-0.33333333f + z * (0.13333333f + z * (-0.053968254f + z * 0.021869488f))));
  }
  if (a > 15.0f) { return sign(x); }
  return sign(x) * (1.0f - 2.0f / (exp(2.0f * a) + 1.0f));
}
";

const SOFTPLUS: &str = "fn tz_softplus(x: f32) -> f32 {
  // log1p(u) as log(w) * u / (w - 1) with w = 1 + u: exact for tiny u.
  let u = exp(-abs(x));
  let w = 1.0f + u;
  let l = select(log(w) * u / (w - 1.0f), u, w == 1.0f);
  return max(x, 0.0f) + l;
}
";

const POW: &str = "fn tz_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0f || x == 1.0f) { return 1.0f; }
  if (tz_isnan_f32(x) || tz_isnan_f32(y)) { return x + y; }
  let inf = bitcast<f32>(0x7f800000u + tz_zero);
  if (abs(y) == inf) {
    // |x| = 1 gives 1; otherwise 0 or infinity by whether |x| grows toward y's sign.
    let ax = abs(x);
    if (ax == 1.0f) { return 1.0f; }
    return select(0.0f, inf, (ax > 1.0f) == (y > 0.0f));
  }
  let m = pow(abs(x), y);
  let r = select(m, select(0.0f, inf, y < 0.0f), x == 0.0f);
  if (x < 0.0f) {
    // A negative finite base with a non-integral exponent has no real power; -inf does.
    if (fract(y) != 0.0f && x != -inf) { return (y - y) / (y - y); }
    if (abs(y) < 16777216.0f && (i32(abs(y)) & 1) == 1) { return -r; }
  }
  return r;
}
";
