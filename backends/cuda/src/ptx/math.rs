//! Transcendental functions, printed inline. f16, bf16 and f32 operands are widened to f64
//! exactly, the function is evaluated in f64 with only correctly rounded operations
//! (`add/mul/div/sqrt.rn`, `fma.rn`) on reduced arguments and Taylor polynomials whose
//! truncation error is below 2^-55 relative, and the result is rounded once to the dtype.
//! The f64 result is within a few f64 ULP of the true value, far below half an f32 ULP, so
//! the narrowed result is the correctly rounded one except within ~2^-40 of a rounding
//! boundary: the stated bound is 1 ULP (see the crate docs). f64 operands are refused
//! (`Unsupported`) for every function that needs more than rational arithmetic.

use super::{Class, RenderError, Res, Writer, f64_imm};
use tessera_ir::DType;
use tessera_ir::op::UnaryOp;

// fdlibm's split constants: ln 2 and pi/2 as sums of f64 values whose high parts have
// trailing zero bits.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
const PIO2_1: f64 = f64::from_bits(0x3FF9_21FB_5440_0000);
const PIO2_2: f64 = f64::from_bits(0x3DD0_B461_1A60_0000);
const PIO2_3: f64 = f64::from_bits(0x3BA3_198A_2E00_0000);

fn k(v: f64) -> String {
    f64_imm(v)
}

impl Writer<'_> {
    fn f(&mut self, op: &str, args: &[&str]) -> String {
        self.op(Class::F64, op, args)
    }
    fn p(&mut self, op: &str, args: &[&str]) -> String {
        self.op(Class::Pred, op, args)
    }
    fn add(&mut self, a: &str, b: &str) -> String {
        self.f("add.rn.f64", &[a, b])
    }
    fn sub(&mut self, a: &str, b: &str) -> String {
        self.f("sub.rn.f64", &[a, b])
    }
    fn mul(&mut self, a: &str, b: &str) -> String {
        self.f("mul.rn.f64", &[a, b])
    }
    fn div(&mut self, a: &str, b: &str) -> String {
        self.f("div.rn.f64", &[a, b])
    }
    fn fma3(&mut self, a: &str, b: &str, c: &str) -> String {
        self.f("fma.rn.f64", &[a, b, c])
    }
    fn sel(&mut self, a: &str, b: &str, p: &str) -> String {
        self.f("selp.f64", &[a, b, p])
    }
    fn abs(&mut self, a: &str) -> String {
        self.f("abs.f64", &[a])
    }
    /// `|m|` with the sign of `s`.
    fn copysign(&mut self, m: &str, s: &str) -> String {
        let neg = self.p("setp.lt.f64", &[s, &k(0.0)]);
        let n = self.f("neg.f64", &[m]);
        self.sel(&n, m, &neg)
    }
    /// Horner: `c[0] + x*(c[1] + x*(...))`.
    fn poly(&mut self, x: &str, c: &[f64]) -> String {
        let mut r = self.f("mov.f64", &[&k(c[c.len() - 1])]);
        for &ci in c[..c.len() - 1].iter().rev() {
            r = self.fma3(&r, x, &k(ci));
        }
        r
    }
    /// `2^n` for an s32 register `n` in [-1022, 1023].
    fn pow2(&mut self, n: &str) -> String {
        let w = self.op(Class::B64, "cvt.s64.s32", &[n]);
        let b = self.op(Class::B64, "add.s64", &[&w, "1023"]);
        let s = self.op(Class::B64, "shl.b64", &[&b, "52"]);
        self.f("mov.b64", &[&s])
    }

    /// `f(x)` in f64 for the unary operator `op` on an operand of dtype `d`.
    pub(crate) fn math_f64(&mut self, op: UnaryOp, d: DType, x: &str) -> Res<String> {
        use UnaryOp as U;
        let rational = matches!(op, U::Softsign | U::HardSwish);
        if d == DType::F64 && !rational {
            return Err(RenderError::Unsupported(format!(
                "`{}` on f64 (f64 transcendental functions)",
                op.name()
            )));
        }
        Ok(match op {
            U::Exp => self.exp(x),
            U::Log => self.log(x),
            U::Sin | U::Cos | U::Tan => self.trig(op, x),
            U::Atan => self.atan(x),
            U::Asin => {
                let one = k(1.0);
                let a = self.sub(&one, x);
                let b = self.add(&one, x);
                let m = self.mul(&a, &b);
                let s = self.f("sqrt.rn.f64", &[&m]);
                let q = self.div(x, &s);
                self.atan(&q)
            }
            U::Acos => {
                let one = k(1.0);
                let a = self.sub(&one, x);
                let b = self.add(&one, x);
                let q = self.div(&a, &b);
                let s = self.f("sqrt.rn.f64", &[&q]);
                let t = self.atan(&s);
                self.add(&t, &t)
            }
            U::Sinh => {
                let a = self.abs(x);
                let small = self.sinh_taylor(&a);
                let e = self.exp(&a);
                let inv = self.div(&k(1.0), &e);
                let diff = self.sub(&e, &inv);
                let big = self.mul(&diff, &k(0.5));
                let is_small = self.p("setp.lt.f64", &[&a, &k(0.5)]);
                let m = self.sel(&small, &big, &is_small);
                self.copysign_nan(&m, x)
            }
            U::Cosh => {
                let a = self.abs(x);
                self.cosh_abs(&a)
            }
            U::Tanh => {
                let a = self.abs(x);
                let s = self.sinh_taylor(&a);
                let ch = self.cosh_abs(&a);
                let small = self.div(&s, &ch);
                let a2 = self.add(&a, &a);
                let e = self.exp(&a2);
                let e1 = self.add(&e, &k(1.0));
                let q = self.div(&k(2.0), &e1);
                let big = self.sub(&k(1.0), &q);
                let is_small = self.p("setp.lt.f64", &[&a, &k(0.5)]);
                let m = self.sel(&small, &big, &is_small);
                self.copysign_nan(&m, x)
            }
            U::Asinh => {
                let a = self.abs(x);
                let a2 = self.mul(&a, &a);
                let h = self.add(&a2, &k(1.0));
                let s = self.f("sqrt.rn.f64", &[&h]);
                // Small: log1p(a + a^2 / (1 + sqrt(1 + a^2))).
                let den = self.add(&s, &k(1.0));
                let q = self.div(&a2, &den);
                let arg = self.add(&a, &q);
                let small = self.log1p(&arg);
                let sum = self.add(&a, &s);
                let big = self.log(&sum);
                let is_small = self.p("setp.lt.f64", &[&a, &k(0.5)]);
                let m = self.sel(&small, &big, &is_small);
                self.copysign_nan(&m, x)
            }
            U::Acosh => {
                let xm1 = self.sub(x, &k(1.0));
                let xp1 = self.add(x, &k(1.0));
                let pr = self.mul(&xm1, &xp1);
                let s = self.f("sqrt.rn.f64", &[&pr]);
                let arg = self.add(&xm1, &s);
                self.log1p(&arg)
            }
            U::Atanh => {
                let a = self.abs(x);
                let two_a = self.add(&a, &a);
                let den = self.sub(&k(1.0), &a);
                let q = self.div(&two_a, &den);
                let l = self.log1p(&q);
                let m = self.mul(&l, &k(0.5));
                self.copysign_nan(&m, x)
            }
            U::Erf => self.erf(x),
            U::Sigmoid => {
                let n = self.f("neg.f64", &[x]);
                let e = self.exp(&n);
                let den = self.add(&e, &k(1.0));
                self.div(&k(1.0), &den)
            }
            U::Softplus => self.softplus(x),
            U::Softsign => {
                let a = self.abs(x);
                let den = self.add(&a, &k(1.0));
                self.div(x, &den)
            }
            U::HardSwish => {
                let sixth = self.div(x, &k(6.0));
                let t = self.add(&sixth, &k(0.5));
                let lo = self.f("max.f64", &[&t, &k(0.0)]);
                let c = self.f("min.f64", &[&lo, &k(1.0)]);
                let r = self.mul(x, &c);
                self.keep_nan(&r, x)
            }
            U::Mish => {
                let sp = self.softplus(x);
                let th = self.math_f64(U::Tanh, DType::F32, &sp)?;
                self.mul(x, &th)
            }
            _ => {
                return Err(RenderError::Internal(format!(
                    "`{}` is not a math function",
                    op.name()
                )));
            }
        })
    }

    /// `r`, or `x` where `x` is NaN.
    fn keep_nan(&mut self, r: &str, x: &str) -> String {
        let nan = self.p("setp.nan.f64", &[x, x]);
        self.sel(x, r, &nan)
    }

    /// `|m|` with the sign of `x`; NaN where `x` is NaN.
    fn copysign_nan(&mut self, m: &str, x: &str) -> String {
        let r = self.copysign(m, x);
        self.keep_nan(&r, x)
    }

    /// e^x: x = k ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2), a degree-13 Taylor
    /// polynomial for e^r, and an exact scaling by 2^k in two steps.
    pub(crate) fn exp(&mut self, x: &str) -> String {
        let lo = self.f("max.f64", &[x, &k(-746.0)]);
        let xc = self.f("min.f64", &[&lo, &k(710.0)]);
        let t = self.mul(&xc, &k(std::f64::consts::LOG2_E));
        let kk = self.f("cvt.rni.f64.f64", &[&t]);
        let nk = self.f("neg.f64", &[&kk]);
        let r = self.fma3(&nk, &k(LN2_HI), &xc);
        let r = self.fma3(&nk, &k(LN2_LO), &r);
        let mut coef = [1.0f64; 14];
        for i in 1..14 {
            coef[i] = coef[i - 1] / i as f64;
        }
        let p = self.poly(&r, &coef);
        let ki = self.op(Class::B32, "cvt.rni.s32.f64", &[&kk]);
        let k1 = self.op(Class::B32, "shr.s32", &[&ki, "1"]);
        let k2 = self.op(Class::B32, "sub.s32", &[&ki, &k1]);
        let s1 = self.pow2(&k1);
        let s2 = self.pow2(&k2);
        let m = self.mul(&p, &s1);
        let res = self.mul(&m, &s2);
        self.keep_nan(&res, x)
    }

    /// ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1),
    /// a degree-12 polynomial in s^2. Zero gives -inf, negative or NaN gives NaN, +inf gives
    /// +inf; subnormal operands are scaled first.
    pub(crate) fn log(&mut self, x: &str) -> String {
        let tiny = self.p("setp.lt.f64", &[x, &k(f64::MIN_POSITIVE)]);
        let scaled = self.mul(x, &k(2f64.powi(54)));
        let xs = self.sel(&scaled, x, &tiny);
        let bits = self.op(Class::B64, "mov.b64", &[&xs]);
        let ex = self.op(Class::B64, "shr.u64", &[&bits, "52"]);
        let ex = self.op(Class::B64, "and.b64", &[&ex, "2047"]);
        let e32 = self.op(Class::B32, "cvt.u32.u64", &[&ex]);
        let e32 = self.op(Class::B32, "sub.s32", &[&e32, "1023"]);
        let adj = self.op(Class::B32, "selp.b32", &["54", "0", &tiny]);
        let e32 = self.op(Class::B32, "sub.s32", &[&e32, &adj]);
        let mb = self.op(Class::B64, "and.b64", &[&bits, "4503599627370495"]);
        let mb = self.op(Class::B64, "or.b64", &[&mb, "4607182418800017408"]);
        let m = self.f("mov.b64", &[&mb]);
        let big = self.p("setp.gt.f64", &[&m, &k(std::f64::consts::SQRT_2)]);
        let half = self.mul(&m, &k(0.5));
        let m = self.sel(&half, &m, &big);
        let inc = self.op(Class::B32, "selp.b32", &["1", "0", &big]);
        let e32 = self.op(Class::B32, "add.s32", &[&e32, &inc]);
        let e = self.f("cvt.rn.f64.s32", &[&e32]);
        let f = self.sub(&m, &k(1.0));
        let den = self.add(&f, &k(2.0));
        let s = self.div(&f, &den);
        let z = self.mul(&s, &s);
        let coef: Vec<f64> = (0..13).map(|i| 2.0 / (2 * i + 1) as f64).collect();
        let r = self.poly(&z, &coef);
        let lm = self.mul(&s, &r);
        let lo = self.fma3(&e, &k(LN2_LO), &lm);
        let res = self.fma3(&e, &k(LN2_HI), &lo);
        // Special operands.
        let zero = self.p("setp.eq.f64", &[x, &k(0.0)]);
        let res = self.sel(&k(f64::NEG_INFINITY), &res, &zero);
        let inf = self.p("setp.eq.f64", &[x, &k(f64::INFINITY)]);
        let res = self.sel(&k(f64::INFINITY), &res, &inf);
        let bad = self.p("setp.ltu.f64", &[x, &k(0.0)]);
        self.sel(&k(f64::NAN), &res, &bad)
    }

    /// ln(1 + y) without cancellation: u = 1 + y, ln u - ((u - 1) - y) / u.
    fn log1p(&mut self, y: &str) -> String {
        let u = self.add(y, &k(1.0));
        let l = self.log(&u);
        let um1 = self.sub(&u, &k(1.0));
        let err = self.sub(&um1, y);
        let c = self.div(&err, &u);
        let r = self.sub(&l, &c);
        // u == 1 (tiny y): ln(1 + y) = y; u infinite: ln u.
        let one = self.p("setp.eq.f64", &[&u, &k(1.0)]);
        let r = self.sel(y, &r, &one);
        let inf = self.p("setp.eq.f64", &[&u, &k(f64::INFINITY)]);
        let r = self.sel(&l, &r, &inf);
        let z = self.p("setp.eq.f64", &[&u, &k(0.0)]);
        self.sel(&l, &r, &z)
    }

    /// sin, cos or tan: x = q pi/2 + r (three-part Cody-Waite), Taylor polynomials for
    /// sin r and cos r on |r| <= pi/4, then the quadrant.
    fn trig(&mut self, op: UnaryOp, x: &str) -> String {
        let t = self.mul(x, &k(std::f64::consts::FRAC_2_PI));
        let kk = self.f("cvt.rni.f64.f64", &[&t]);
        let nk = self.f("neg.f64", &[&kk]);
        let r = self.fma3(&nk, &k(PIO2_1), x);
        let r = self.fma3(&nk, &k(PIO2_2), &r);
        let r = self.fma3(&nk, &k(PIO2_3), &r);
        let z = self.mul(&r, &r);
        // sin r = r (1 - z/3! + z^2/5! ...), cos r = 1 - z/2! + z^2/4! ...
        let mut sc = Vec::new();
        let mut cc = Vec::new();
        let mut fact = 1.0f64;
        for n in 0..12i32 {
            let i = 2 * n;
            if n > 0 {
                fact *= f64::from(i - 1) * f64::from(i);
            }
            let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
            cc.push(sign / fact);
            sc.push(sign / (fact * f64::from(i + 1)));
        }
        let sp = self.poly(&z, &sc);
        let s = self.mul(&r, &sp);
        let c = self.poly(&z, &cc);
        let q = self.op(Class::B64, "cvt.rni.s64.f64", &[&kk]);
        let q = self.op(Class::B64, "and.b64", &[&q, "3"]);
        let q1 = self.op(Class::B64, "and.b64", &[&q, "1"]);
        let odd = self.p("setp.ne.u64", &[&q1, "0"]);
        let q2 = self.op(Class::B64, "and.b64", &[&q, "2"]);
        let hi = self.p("setp.ne.u64", &[&q2, "0"]);
        let res = match op {
            UnaryOp::Sin => {
                // q: 0 s, 1 c, 2 -s, 3 -c
                let v = self.sel(&c, &s, &odd);
                let nv = self.f("neg.f64", &[&v]);
                self.sel(&nv, &v, &hi)
            }
            UnaryOp::Cos => {
                // q: 0 c, 1 -s, 2 -c, 3 s
                let ns = self.f("neg.f64", &[&s]);
                let v = self.sel(&ns, &c, &odd);
                let nv = self.f("neg.f64", &[&v]);
                self.sel(&nv, &v, &hi)
            }
            _ => {
                let sc_ = self.div(&s, &c);
                let cs = self.div(&c, &s);
                let ncs = self.f("neg.f64", &[&cs]);
                self.sel(&ncs, &sc_, &odd)
            }
        };
        // Beyond 2^20 the reduction above is not accurate (and beyond 2^50 not even in
        // range): fall back to the hardware's approximations, which stay within [-1, 1].
        let ax = self.abs(x);
        let huge = self.p("setp.ge.f64", &[&ax, &k(1_048_576.0)]);
        let x32 = self.op(Class::F32, "cvt.rn.f32.f64", &[x]);
        let hs = self.op(Class::F32, "sin.approx.f32", &[&x32]);
        let hc = self.op(Class::F32, "cos.approx.f32", &[&x32]);
        let approx = match op {
            UnaryOp::Sin => hs,
            UnaryOp::Cos => hc,
            _ => self.op(Class::F32, "div.rn.f32", &[&hs, &hc]),
        };
        let approx = self.f("cvt.f64.f32", &[&approx]);
        let res = self.sel(&approx, &res, &huge);
        // Infinite operands give NaN (r is NaN then); NaN stays NaN.
        let fin = self.abs(x);
        let inf = self.p("setp.eq.f64", &[&fin, &k(f64::INFINITY)]);
        let res = self.sel(&k(f64::NAN), &res, &inf);
        self.keep_nan(&res, x)
    }

    /// atan x: |x| > 1 uses pi/2 - atan(1/|x|); above tan(pi/12) the argument is moved by
    /// pi/6; a degree-31 Taylor polynomial on |t| <= 0.268.
    fn atan(&mut self, x: &str) -> String {
        let a = self.abs(x);
        let inv = self.p("setp.gt.f64", &[&a, &k(1.0)]);
        let ra = self.div(&k(1.0), &a);
        let t = self.sel(&ra, &a, &inv);
        let red = self.p("setp.gt.f64", &[&t, &k(0.267_949_192_431_122_7)]);
        let sq3 = k(3f64.sqrt());
        let num = self.fma3(&t, &sq3, &k(-1.0));
        let den = self.add(&t, &sq3);
        let moved = self.div(&num, &den);
        let t2 = self.sel(&moved, &t, &red);
        let z = self.mul(&t2, &t2);
        let coef: Vec<f64> = (0..16)
            .map(|n| {
                let s = if n % 2 == 0 { 1.0 } else { -1.0 };
                s / f64::from(2 * n + 1)
            })
            .collect();
        let p = self.poly(&z, &coef);
        let at = self.mul(&t2, &p);
        let off = self.sel(&k(std::f64::consts::FRAC_PI_6), &k(0.0), &red);
        let r = self.add(&off, &at);
        let flipped = self.sub(&k(std::f64::consts::FRAC_PI_2), &r);
        let r = self.sel(&flipped, &r, &inv);
        self.copysign_nan(&r, x)
    }

    /// sinh |x| for |x| < 0.5: Taylor to degree 17.
    fn sinh_taylor(&mut self, a: &str) -> String {
        let z = self.mul(a, a);
        let mut coef = Vec::new();
        let mut fact = 1.0f64;
        for n in 0..9 {
            let i = 2 * n + 1;
            if n > 0 {
                fact *= f64::from(i - 1) * f64::from(i);
            }
            coef.push(1.0 / fact);
        }
        let p = self.poly(&z, &coef);
        self.mul(a, &p)
    }

    /// cosh for a = |x|: (e^a + e^-a) / 2.
    fn cosh_abs(&mut self, a: &str) -> String {
        let e = self.exp(a);
        let inv = self.div(&k(1.0), &e);
        let s = self.add(&e, &inv);
        self.mul(&s, &k(0.5))
    }

    /// ln(1 + e^x), without overflow: x + log1p(e^-x) for x > 0.
    fn softplus(&mut self, x: &str) -> String {
        let pos = self.p("setp.gt.f64", &[x, &k(0.0)]);
        let nx = self.f("neg.f64", &[x]);
        let a = self.sel(&nx, x, &pos);
        let e = self.exp(&a);
        let l = self.log1p(&e);
        let shifted = self.add(x, &l);
        self.sel(&shifted, &l, &pos)
    }

    /// erf: the Maclaurin series (35 terms) for |x| < 2, else 1 - erfc with erfc from its
    /// continued fraction (48 terms).
    fn erf(&mut self, x: &str) -> String {
        let a = self.abs(x);
        let z = self.mul(&a, &a);
        let mut coef = Vec::new();
        let mut fact = 1.0f64;
        for n in 0..36 {
            if n > 0 {
                fact *= f64::from(n);
            }
            let s = if n % 2 == 0 { 1.0 } else { -1.0 };
            coef.push(s * std::f64::consts::FRAC_2_SQRT_PI / (fact * f64::from(2 * n + 1)));
        }
        let p = self.poly(&z, &coef);
        let small = self.mul(&a, &p);
        // erfc(a) = e^(-a^2) / sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))).
        let mut kf = self.f("mov.f64", &[&a]);
        for n in (1..=48).rev() {
            let q = self.div(&k(f64::from(n) / 2.0), &kf);
            kf = self.add(&a, &q);
        }
        let nz = self.f("neg.f64", &[&z]);
        let e = self.exp(&nz);
        let num = self.mul(&e, &k(1.0 / std::f64::consts::PI.sqrt()));
        let erfc = self.div(&num, &kf);
        let big = self.sub(&k(1.0), &erfc);
        let huge = self.p("setp.gt.f64", &[&a, &k(6.0)]);
        let big = self.sel(&k(1.0), &big, &huge);
        let is_small = self.p("setp.lt.f64", &[&a, &k(2.0)]);
        let m = self.sel(&small, &big, &is_small);
        self.copysign_nan(&m, x)
    }

    /// IEEE `pow` for f64 operands that came from narrower floats: e^(y ln|x|) with the
    /// sign, NaN and ±1 rules of C's `pow`.
    pub(crate) fn pow_f64(&mut self, x: &str, y: &str) -> String {
        let ax = self.abs(x);
        let l = self.log(&ax);
        let t = self.mul(y, &l);
        let m = self.exp(&t);
        let ry = self.f("cvt.rni.f64.f64", &[y]);
        let yint = self.p("setp.eq.f64", &[&ry, y]);
        let hy = self.mul(y, &k(0.5));
        let rhy = self.f("cvt.rni.f64.f64", &[&hy]);
        let hint = self.p("setp.eq.f64", &[&rhy, &hy]);
        let yodd = self.and_not(&yint, &hint);
        let xb = self.op(Class::B64, "mov.b64", &[x]);
        let xneg = self.p("setp.lt.s64", &[&xb, "0"]);
        let flip = self.p("and.pred", &[&xneg, &yodd]);
        let nm = self.f("neg.f64", &[&m]);
        let r = self.sel(&nm, &m, &flip);
        let below = self.p("setp.lt.f64", &[x, &k(0.0)]);
        let bad = self.and_not(&below, &yint);
        let r = self.sel(&k(f64::NAN), &r, &bad);
        // |x| == 1 and y infinite: 1.
        let unit = self.p("setp.eq.f64", &[&ax, &k(1.0)]);
        let ay = self.abs(y);
        let yinf = self.p("setp.eq.f64", &[&ay, &k(f64::INFINITY)]);
        let one_a = self.p("and.pred", &[&unit, &yinf]);
        let r = self.sel(&k(1.0), &r, &one_a);
        let y0 = self.p("setp.eq.f64", &[y, &k(0.0)]);
        let x1 = self.p("setp.eq.f64", &[x, &k(1.0)]);
        let one = self.p("or.pred", &[&y0, &x1]);
        self.sel(&k(1.0), &r, &one)
    }

    /// C `fmod` for f64 operands that came from narrower floats (24-bit significands), exact:
    /// the remainder is reduced by `|b| 2^s` steps whose quotients stay below 2^27, so every
    /// product and difference is exact.
    pub(crate) fn fmod_f64(&mut self, a: &str, b: &str) -> String {
        let ra = self.abs(a);
        let rb = self.abs(b);
        let bz = self.p("setp.eq.f64", &[&rb, &k(0.0)]);
        let ainf = self.p("setp.eq.f64", &[&ra, &k(f64::INFINITY)]);
        let nan = self.p("setp.nan.f64", &[a, b]);
        let bad = self.p("or.pred", &[&bz, &ainf]);
        let bad = self.p("or.pred", &[&bad, &nan]);
        // Invalid operands run no iteration (r = 0 < 1) and give NaN below.
        let r = self.sel(&k(0.0), &ra, &bad);
        let r = self.f("mov.f64", &[&r]);
        let rb = self.sel(&k(1.0), &rb, &bad);
        let rb_bits = self.op(Class::B64, "mov.b64", &[&rb]);
        let eb = self.op(Class::B64, "shr.u64", &[&rb_bits, "52"]);
        let (top, done) = (self.label(), self.label());
        self.place(&top);
        let fin = self.p("setp.lt.f64", &[&r, &rb]);
        self.ins(format!("@{fin} bra {done}"));
        let r_bits = self.op(Class::B64, "mov.b64", &[&r]);
        let er = self.op(Class::B64, "shr.u64", &[&r_bits, "52"]);
        let gap = self.op(Class::B64, "sub.s64", &[&er, &eb]);
        let gap = self.op(Class::B64, "sub.s64", &[&gap, "26"]);
        let gap = self.op(Class::B64, "max.s64", &[&gap, "0"]);
        let sh = self.op(Class::B64, "shl.b64", &[&gap, "52"]);
        let s_bits = self.op(Class::B64, "add.s64", &[&rb_bits, &sh]);
        let s = self.f("mov.b64", &[&s_bits]);
        let q = self.div(&r, &s);
        let q = self.f("cvt.rzi.f64.f64", &[&q]);
        let nq = self.f("neg.f64", &[&q]);
        let nr = self.fma3(&nq, &s, &r);
        let under = self.p("setp.lt.f64", &[&nr, &k(0.0)]);
        let fixed = self.add(&nr, &s);
        self.ins(format!("selp.f64 {r}, {fixed}, {nr}, {under}"));
        self.ins(format!("bra {top}"));
        self.place(&done);
        let res = self.copysign(&r, a);
        // The sign of a zero remainder follows a (copysign above reads a < 0 only).
        let ab = self.op(Class::B64, "mov.b64", &[a]);
        let aneg = self.p("setp.lt.s64", &[&ab, "0"]);
        let nz = self.f("neg.f64", &[&r]);
        let res2 = self.sel(&nz, &r, &aneg);
        let res = self.sel(&res2, &res, &aneg);
        self.sel(&k(f64::NAN), &res, &bad)
    }

    /// Python's `%` (sign of the divisor) from `fmod`, as the reference computes it.
    pub(crate) fn py_mod_f64(&mut self, a: &str, b: &str) -> String {
        let r = self.fmod_f64(a, b);
        let rz = self.p("setp.eq.f64", &[&r, &k(0.0)]);
        let rneg = self.p("setp.lt.f64", &[&r, &k(0.0)]);
        let bneg = self.p("setp.lt.f64", &[b, &k(0.0)]);
        let differ = self.p("xor.pred", &[&rneg, &bneg]);
        let adj = self.and_not(&differ, &rz);
        let sum = self.add(&r, b);
        let r2 = self.sel(&sum, &r, &adj);
        // A zero remainder takes b's sign bit (-0.0 < 0 is false: read the bits).
        let bb = self.op(Class::B64, "mov.b64", &[b]);
        let bsign = self.p("setp.lt.s64", &[&bb, "0"]);
        let z = self.sel(&k(-0.0), &k(0.0), &bsign);
        self.sel(&z, &r2, &rz)
    }
}
