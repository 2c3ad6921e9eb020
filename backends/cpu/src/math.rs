//! The `extern "C"` functions that JIT-compiled kernels call for what Cranelift has no
//! instruction for: transcendental float math, f16/bf16 rounding and conversion, integer
//! `pow`. Each computes exactly what the kernel interpreter computes (the same f64 formulas
//! and the same rounding functions), so compiled kernels match it bit for bit wherever the
//! host's math library is the interpreter's.

use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{AbiParam, Signature, Type};
use cranelift_codegen::isa::CallConv;
use tessera_ir::DType;
use tessera_ir::interp::rounding::{int_to_float, round_to_dtype};
use tessera_ir::op::{BinaryOp, UnaryOp};

/// A helper's symbol, address and parameter/result types.
pub(crate) struct Helper {
    /// The symbol the JIT module resolves.
    pub name: &'static str,
    /// The function's address.
    pub addr: *const u8,
    /// Parameter types.
    pub params: &'static [Type],
    /// Result type.
    pub ret: Type,
}

impl Helper {
    /// The helper's Cranelift signature in the host's C calling convention.
    pub fn signature(&self, call_conv: CallConv) -> Signature {
        let mut sig = Signature::new(call_conv);
        sig.params
            .extend(self.params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.push(AbiParam::new(self.ret));
        sig
    }
}

macro_rules! f64_unary {
    ($($name:ident = $f:expr;)*) => {
        $(
            extern "C" fn $name(x: f64) -> f64 {
                let f: fn(f64) -> f64 = $f;
                f(x)
            }
        )*
    };
}

f64_unary! {
    tessera_exp = f64::exp;
    tessera_log = f64::ln;
    tessera_sin = f64::sin;
    tessera_cos = f64::cos;
    tessera_tan = f64::tan;
    tessera_asin = f64::asin;
    tessera_acos = f64::acos;
    tessera_atan = f64::atan;
    tessera_sinh = f64::sinh;
    tessera_cosh = f64::cosh;
    tessera_tanh = f64::tanh;
    tessera_asinh = f64::asinh;
    tessera_acosh = f64::acosh;
    tessera_atanh = f64::atanh;
    tessera_erf = libm::erf;
    tessera_sigmoid = sigmoid;
    tessera_softplus = softplus;
    tessera_softsign = |x| x / (1.0 + x.abs());
    tessera_hard_swish = |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0);
    tessera_mish = |x| x * softplus(x).tanh();
}

/// `1 / (1 + e^-x)` without overflow for large |x| (the interpreter's formula).
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` without overflow (the interpreter's formula).
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

extern "C" fn tessera_pow(a: f64, b: f64) -> f64 {
    a.powf(b)
}

/// Modulo with the sign of the divisor (ONNX Mod with fmod=0, Python's `%`).
extern "C" fn tessera_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else if r == 0.0 {
        0f64.copysign(b)
    } else {
        r
    }
}

extern "C" fn tessera_fmod(a: f64, b: f64) -> f64 {
    a % b
}

/// f32 `a * b + c` with one rounding (for hosts without FMA instructions).
extern "C" fn tessera_fma_f32(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

extern "C" fn tessera_fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// Integer power with wrap-around; negative exponents (signed only) give `1/base` truncated.
extern "C" fn tessera_pow_int(base: i64, e: i64, signed: i32) -> i64 {
    if signed != 0 && e < 0 {
        return match base {
            1 => 1,
            -1 if e % 2 != 0 => -1,
            -1 => 1,
            _ => 0,
        };
    }
    let (mut acc, mut sq, mut e) = (1i64, base, e as u64);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(sq);
        }
        sq = sq.wrapping_mul(sq);
        e >>= 1;
    }
    acc
}

/// Rounds an f64 to f16 (ties to even), returned as the exact f32 of that value.
extern "C" fn tessera_f64_to_f16(x: f64) -> f32 {
    round_to_dtype(x, DType::F16) as f32
}

/// Rounds an f64 to bf16 (ties to even), returned as the exact f32 of that value.
extern "C" fn tessera_f64_to_bf16(x: f64) -> f32 {
    round_to_dtype(x, DType::BF16) as f32
}

/// Rounds an f32 to f16 (ties to even), returned as the exact f32 of that value.
extern "C" fn tessera_f32_to_f16(x: f32) -> f32 {
    round_to_dtype(f64::from(x), DType::F16) as f32
}

/// Rounds an f32 to bf16 (ties to even), returned as the exact f32 of that value.
extern "C" fn tessera_f32_to_bf16(x: f32) -> f32 {
    round_to_dtype(f64::from(x), DType::BF16) as f32
}

/// An integer (signed when `signed != 0`) rounded once to f16 (`narrow == 0`) or bf16.
extern "C" fn tessera_int_to_narrow(v: i64, signed: i32, narrow: i32) -> f32 {
    let exact = if signed != 0 {
        i128::from(v)
    } else {
        i128::from(v as u64)
    };
    let dtype = if narrow == 0 { DType::F16 } else { DType::BF16 };
    int_to_float(exact, dtype) as f32
}

/// f16 bits (low 16 bits of `bits`) to f32, exactly.
extern "C" fn tessera_f16_bits_to_f32(bits: i32) -> f32 {
    half::f16::from_bits(bits as u16).to_f32()
}

/// An f32 holding an f16 value to its f16 bits (exact for such values).
extern "C" fn tessera_f32_to_f16_bits(x: f32) -> i32 {
    i32::from(half::f16::from_f32(x).to_bits())
}

/// Every helper, registered as a JIT symbol by the compiler.
pub(crate) fn helpers() -> Vec<Helper> {
    let h = |name, addr, params, ret| Helper {
        name,
        addr,
        params,
        ret,
    };
    let unary: [(&'static str, extern "C" fn(f64) -> f64); 20] = [
        ("tessera_exp", tessera_exp),
        ("tessera_log", tessera_log),
        ("tessera_sin", tessera_sin),
        ("tessera_cos", tessera_cos),
        ("tessera_tan", tessera_tan),
        ("tessera_asin", tessera_asin),
        ("tessera_acos", tessera_acos),
        ("tessera_atan", tessera_atan),
        ("tessera_sinh", tessera_sinh),
        ("tessera_cosh", tessera_cosh),
        ("tessera_tanh", tessera_tanh),
        ("tessera_asinh", tessera_asinh),
        ("tessera_acosh", tessera_acosh),
        ("tessera_atanh", tessera_atanh),
        ("tessera_erf", tessera_erf),
        ("tessera_sigmoid", tessera_sigmoid),
        ("tessera_softplus", tessera_softplus),
        ("tessera_softsign", tessera_softsign),
        ("tessera_hard_swish", tessera_hard_swish),
        ("tessera_mish", tessera_mish),
    ];
    let mut v: Vec<Helper> = unary
        .iter()
        .map(|&(name, f)| h(name, f as *const u8, &[F64][..], F64))
        .collect();
    let binary: [(&'static str, extern "C" fn(f64, f64) -> f64); 3] = [
        ("tessera_pow", tessera_pow),
        ("tessera_mod", tessera_mod),
        ("tessera_fmod", tessera_fmod),
    ];
    v.extend(
        binary
            .iter()
            .map(|&(name, f)| h(name, f as *const u8, &[F64, F64][..], F64)),
    );
    let narrow: [(&'static str, extern "C" fn(f64) -> f32); 2] = [
        ("tessera_f64_to_f16", tessera_f64_to_f16),
        ("tessera_f64_to_bf16", tessera_f64_to_bf16),
    ];
    v.extend(
        narrow
            .iter()
            .map(|&(name, f)| h(name, f as *const u8, &[F64][..], F32)),
    );
    let narrow32: [(&'static str, extern "C" fn(f32) -> f32); 2] = [
        ("tessera_f32_to_f16", tessera_f32_to_f16),
        ("tessera_f32_to_bf16", tessera_f32_to_bf16),
    ];
    v.extend(
        narrow32
            .iter()
            .map(|&(name, f)| h(name, f as *const u8, &[F32][..], F32)),
    );
    let fma: extern "C" fn(f64, f64, f64) -> f64 = tessera_fma;
    let pow_int: extern "C" fn(i64, i64, i32) -> i64 = tessera_pow_int;
    let int_narrow: extern "C" fn(i64, i32, i32) -> f32 = tessera_int_to_narrow;
    let from_bits: extern "C" fn(i32) -> f32 = tessera_f16_bits_to_f32;
    let to_bits: extern "C" fn(f32) -> i32 = tessera_f32_to_f16_bits;
    v.push(h("tessera_fma", fma as *const u8, &[F64, F64, F64], F64));
    let fma32: extern "C" fn(f32, f32, f32) -> f32 = tessera_fma_f32;
    v.push(h(
        "tessera_fma_f32",
        fma32 as *const u8,
        &[F32, F32, F32],
        F32,
    ));
    v.push(h(
        "tessera_pow_int",
        pow_int as *const u8,
        &[I64, I64, I32],
        I64,
    ));
    v.push(h(
        "tessera_int_to_narrow",
        int_narrow as *const u8,
        &[I64, I32, I32],
        F32,
    ));
    v.push(h(
        "tessera_f16_bits_to_f32",
        from_bits as *const u8,
        &[I32],
        F32,
    ));
    v.push(h(
        "tessera_f32_to_f16_bits",
        to_bits as *const u8,
        &[F32],
        I32,
    ));
    v
}

/// The f64 helper computing a float unary op, for ops Cranelift has no instruction for.
pub(crate) fn unary_helper(op: UnaryOp) -> Option<&'static str> {
    use UnaryOp as U;
    Some(match op {
        U::Exp => "tessera_exp",
        U::Log => "tessera_log",
        U::Sin => "tessera_sin",
        U::Cos => "tessera_cos",
        U::Tan => "tessera_tan",
        U::Asin => "tessera_asin",
        U::Acos => "tessera_acos",
        U::Atan => "tessera_atan",
        U::Sinh => "tessera_sinh",
        U::Cosh => "tessera_cosh",
        U::Tanh => "tessera_tanh",
        U::Asinh => "tessera_asinh",
        U::Acosh => "tessera_acosh",
        U::Atanh => "tessera_atanh",
        U::Erf => "tessera_erf",
        U::Sigmoid => "tessera_sigmoid",
        U::Softplus => "tessera_softplus",
        U::Softsign => "tessera_softsign",
        U::HardSwish => "tessera_hard_swish",
        U::Mish => "tessera_mish",
        _ => return None,
    })
}

/// The f64 helper computing a float binary op, for ops Cranelift has no instruction for.
pub(crate) fn binary_helper(op: BinaryOp) -> Option<&'static str> {
    Some(match op {
        BinaryOp::Pow => "tessera_pow",
        BinaryOp::Mod => "tessera_mod",
        BinaryOp::FMod => "tessera_fmod",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_mod_and_int_pow() {
        assert_eq!(tessera_mod(-7.0, 2.0), 1.0);
        assert!(tessera_mod(4.0, -2.0).is_sign_negative());
        assert_eq!(tessera_fmod(-7.0, 2.0), -1.0);
        assert_eq!(tessera_pow_int(3, 4, 1), 81);
        assert_eq!(tessera_pow_int(-1, -3, 1), -1);
        assert_eq!(tessera_pow_int(2, -1, 1), 0);
        assert_eq!(tessera_pow_int(2, 64, 0), 0);
        assert_eq!(tessera_pow_int(-1, i64::MIN, 0), 1);
    }

    #[test]
    fn narrow_rounding_ties_to_even() {
        assert_eq!(tessera_f32_to_f16(2049.0), 2048.0);
        assert_eq!(tessera_f32_to_f16(2051.0), 2052.0);
        assert_eq!(tessera_f64_to_bf16(257.0), 256.0);
        assert_eq!(tessera_int_to_narrow(-1, 0, 0), f32::INFINITY);
        assert_eq!(tessera_int_to_narrow(-3, 1, 1), -3.0);
        assert_eq!(tessera_f16_bits_to_f32(0x3c00), 1.0);
        assert_eq!(tessera_f32_to_f16_bits(-2.0), 0xc000);
    }
}
