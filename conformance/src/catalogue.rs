//! The operator case catalogue: every graph operator × every dtype it accepts × shape families
//! (scalar, empty, one element, sizes that no vector width divides, broadcasting each way, one
//! ≥16M-element case per operator family, reductions over each axis and over all) × value
//! families (ordinary, NaN/±Inf/−0, denormals, large magnitudes, integer extremes).
//!
//! A case is a one-node graph ([`CaseSpec::graph`]) with seeded inputs
//! ([`CaseSpec::inputs`]): the seed is a hash of the case name, so a case is reproducible from
//! its name alone. "Accepts" is decided by the IR's own shape and type inference: a dtype for
//! which building the node fails is not an accepted dtype and makes no case.

mod structured;

use std::collections::HashMap;
use tessera_frontends::GraphBuilder;
use tessera_ir::attr::{
    AutoPad, CoordTransform, GeluApprox, KeepAspectRatio, NearestMode, PadMode, ResizeMode,
    ScatterReduction,
};
use tessera_ir::{BinaryOp, DType, Graph, IrError, Op, ReduceOp, Tensor, UnaryOp, VariadicOp};
use tessera_runtime::NamedTensors;

/// Which values fill a case's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Values {
    /// Moderate values: floats in [-4, 4], small integers.
    Ordinary,
    /// NaN, ±Inf, −0 and +0 mixed with ordinary floats.
    Special,
    /// Subnormal floats (and the smallest normals).
    Denormal,
    /// Floats near the top of their range.
    Large,
    /// Integer MIN, MAX, 0, ±1 and their neighbours.
    Extremes,
}

impl Values {
    /// The family's name in case names.
    pub fn name(self) -> &'static str {
        match self {
            Values::Ordinary => "ordinary",
            Values::Special => "special",
            Values::Denormal => "denormal",
            Values::Large => "large",
            Values::Extremes => "extremes",
        }
    }

    /// The families that apply to `dtype` beyond the ordinary one.
    fn extra_for(dtype: DType) -> &'static [Values] {
        if dtype.is_float() && !dtype.is_low_precision() {
            &[Values::Special, Values::Denormal, Values::Large]
        } else if dtype.is_int() && dtype.size_bytes() >= 1 && !is_sub_byte(dtype) {
            &[Values::Extremes]
        } else {
            &[]
        }
    }
}

fn is_sub_byte(d: DType) -> bool {
    matches!(d, DType::I4 | DType::U4 | DType::I2 | DType::U2)
}

/// Constraints on an input's values (so that a case tests the operator, not undefined
/// behaviour such as integer division by zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Anything of the value family.
    Any,
    /// Integers never 0 (divisors).
    NonZero,
    /// Shift amounts: `0..bits`.
    Shift,
    /// Small non-negative exponents `0..=4`.
    SmallExp,
    /// Indices in `-n..n`.
    Index(i64),
    /// Indices in `0..n`.
    IndexNonNeg(i64),
    /// Floats in [0.1, 4], integers in 1..=50 (variances, scales, arguments of logs).
    Positive,
    /// Terms of a signed sum of this many terms: large magnitudes are at most
    /// `MAX / (2 * terms)`, so that no partial sum overflows, whatever the summation order.
    /// ONNX leaves the order of a reduction open (sequential, tree, vector lanes,
    /// workgroups), and with terms near `MAX` whether a partial sum overflows depends on it;
    /// such a case would test the order, not the operator (see `docs/tolerances.md`).
    Summand(usize),
    /// Anything of the value family, but never negative: a sum of large same-sign terms
    /// overflows in every order, so its `+inf` is every backend's answer.
    NonNegative,
}

/// One operand of a case's node.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A graph input, filled by the generator.
    Input {
        /// Element type.
        dtype: DType,
        /// Shape.
        shape: Vec<usize>,
        /// Value constraints.
        domain: Domain,
    },
    /// A constant operand (axes, shapes, pads, ...).
    Const(Tensor),
    /// An absent optional operand.
    Absent,
}

/// One case of the operator suite.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSpec {
    /// `op/dtype/shape-family/value-family`, unique in the catalogue; the inputs' seed.
    pub name: String,
    /// The operator's text-form name (the row of the report matrix).
    pub op: String,
    /// The dtype the case is about (its first input's).
    pub dtype: DType,
    /// The node's operator with attributes.
    pub node: Op,
    /// Its operands.
    pub operands: Vec<Operand>,
    /// Its result count.
    pub num_outputs: usize,
    /// The value family of the inputs.
    pub values: Values,
    /// Terms accumulated into one result (reduction length), for the tolerance policy.
    pub terms: usize,
}

/// A seeded generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from a name (FNV-1a).
    pub fn from_name(name: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i128, hi: i128) -> i128 {
        let span = (hi - lo + 1) as u128;
        lo + (self.next_u64() as u128 % span) as i128
    }
}

impl CaseSpec {
    /// The case's one-node graph: inputs `x0, x1, ..`, outputs `y0, y1, ..`.
    pub fn graph(&self) -> Result<Graph, IrError> {
        let mut b = GraphBuilder::new(self.name.replace(['/', '-', '.'], "_"));
        let mut args = Vec::new();
        let mut k = 0;
        for o in &self.operands {
            args.push(match o {
                Operand::Input { dtype, shape, .. } => {
                    k += 1;
                    Some(b.input(&format!("x{}", k - 1), *dtype, shape))
                }
                Operand::Const(t) => Some(b.constant(t.clone())),
                Operand::Absent => None,
            });
        }
        let outs = b.node(self.node.clone(), &args, self.num_outputs)?;
        for (i, v) in outs.into_iter().enumerate() {
            b.output(v, &format!("y{i}"))?;
        }
        b.finish()
    }

    /// The case's inputs, generated from the seed of its name.
    pub fn inputs(&self) -> NamedTensors {
        let mut rng = Rng::from_name(&self.name);
        let mut out = NamedTensors::new();
        let mut k = 0;
        for o in &self.operands {
            if let Operand::Input {
                dtype,
                shape,
                domain,
            } = o
            {
                out.insert(
                    format!("x{k}"),
                    generate(*dtype, shape, *domain, self.values, &mut rng),
                );
                k += 1;
            }
        }
        out
    }

    /// Total input elements (for ordering and quick subsets).
    pub fn input_elements(&self) -> usize {
        self.operands
            .iter()
            .map(|o| match o {
                Operand::Input { shape, .. } => shape.iter().product(),
                _ => 0,
            })
            .sum()
    }
}

/// A tensor of `dtype` and `shape` with values of `family` under `domain`.
pub fn generate(
    dtype: DType,
    shape: &[usize],
    domain: Domain,
    family: Values,
    rng: &mut Rng,
) -> Tensor {
    let n: usize = shape.iter().product();
    let size = dtype.size_bytes();
    let mut bytes = Vec::with_capacity(n * size);
    for _ in 0..n {
        if dtype.is_float() && !dtype.is_low_precision() {
            let v = float_value(dtype, domain, family, rng);
            match dtype {
                DType::F64 => bytes.extend_from_slice(&v.to_le_bytes()),
                DType::F32 => bytes.extend_from_slice(&(v as f32).to_le_bytes()),
                DType::F16 => bytes.extend_from_slice(&half::f16::from_f64(v).to_le_bytes()),
                _ => bytes.extend_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
            }
        } else if dtype.is_float() {
            // float8 / float4: any bit pattern of the format.
            bytes.push(rng.next_u64() as u8);
        } else {
            let v = int_value(dtype, domain, family, rng);
            bytes.extend_from_slice(&v.to_le_bytes()[..size]);
        }
    }
    // Sizes and byte counts agree by construction.
    Tensor::from_bytes(dtype, shape, bytes).unwrap_or_else(|_| Tensor::scalar(0f32))
}

fn float_value(dtype: DType, domain: Domain, family: Values, rng: &mut Rng) -> f64 {
    let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    match (domain, family) {
        (Domain::Positive, _) => 0.1 + 3.9 * rng.unit(),
        (Domain::SmallExp, _) => rng.range(0, 4) as f64,
        (Domain::Index(_) | Domain::IndexNonNeg(_) | Domain::Shift, _) => rng.range(0, 3) as f64,
        (Domain::NonNegative, _) => float_value(dtype, Domain::Any, family, rng).abs(),
        (_, Values::Ordinary | Values::Extremes) => -4.0 + 8.0 * rng.unit(),
        (_, Values::Special) => {
            const SPECIAL: [f64; 10] = [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                0.0,
                1.0,
                -1.0,
                0.5,
                -2.5,
                3.0,
            ];
            SPECIAL[rng.range(0, 9) as usize]
        }
        (_, Values::Denormal) => {
            let tiny = match dtype {
                DType::F64 => f64::from_bits(1),
                DType::F32 => f32::from_bits(1) as f64,
                DType::F16 => half::f16::from_bits(1).to_f64(),
                _ => half::bf16::from_bits(1).to_f64(),
            };
            let steps = match dtype {
                DType::F16 => 1023,
                DType::BF16 => 127,
                _ => 1 << 20,
            };
            sign * tiny * rng.range(1, steps) as f64
        }
        (Domain::Summand(terms), Values::Large) => {
            sign * max_finite(dtype) / (2 * terms.max(1)) as f64 * (0.04 + 0.96 * rng.unit())
        }
        (_, Values::Large) => sign * max_finite(dtype) * (0.01 + 0.24 * rng.unit()),
    }
}

/// The largest finite value of a float dtype (as f64).
fn max_finite(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::MAX,
        DType::F32 => f32::MAX as f64,
        DType::F16 => 65504.0,
        _ => half::bf16::MAX.to_f64(),
    }
}

fn int_range(dtype: DType) -> (i128, i128) {
    match dtype {
        DType::Bool => (0, 1),
        DType::I8 => (i8::MIN as i128, i8::MAX as i128),
        DType::U8 => (0, u8::MAX as i128),
        DType::I16 => (i16::MIN as i128, i16::MAX as i128),
        DType::U16 => (0, u16::MAX as i128),
        DType::I32 => (i32::MIN as i128, i32::MAX as i128),
        DType::U32 => (0, u32::MAX as i128),
        DType::I64 => (i64::MIN as i128, i64::MAX as i128),
        DType::U64 => (0, u64::MAX as i128),
        DType::I4 => (-8, 7),
        DType::U4 => (0, 15),
        DType::I2 => (-2, 1),
        DType::U2 => (0, 3),
        _ => (0, 0),
    }
}

fn int_value(dtype: DType, domain: Domain, family: Values, rng: &mut Rng) -> i128 {
    let (lo, hi) = int_range(dtype);
    let v = match domain {
        Domain::Positive => rng.range(1, 50),
        Domain::Shift => rng.range(0, (dtype.size_bytes() * 8 - 1) as i128),
        Domain::SmallExp => rng.range(0, 4),
        Domain::Index(n) => rng.range(-(n as i128), n as i128 - 1),
        Domain::IndexNonNeg(n) => rng.range(0, n as i128 - 1),
        _ if family == Values::Extremes => {
            let picks = [lo, hi, lo + 1, hi - 1, 0, 1, if lo < 0 { -1 } else { 2 }];
            picks[rng.range(0, picks.len() as i128 - 1) as usize]
        }
        _ if dtype == DType::Bool => rng.range(0, 1),
        _ => rng.range(lo.max(-50), hi.min(100)),
    };
    let v = v.clamp(lo, hi);
    if domain == Domain::NonZero && v == 0 {
        1
    } else {
        v
    }
}

/// The dtypes tried for each operator (every dtype of the IR).
pub const DTYPES: [DType; DType::COUNT] = DType::ALL;

/// Shape families of elementwise operators of one operand.
const UNARY_SHAPES: [(&str, &[usize]); 7] = [
    ("scalar", &[]),
    ("empty", &[0, 3]),
    ("one", &[1]),
    ("n7", &[7]),
    ("n33", &[33]),
    ("13x5", &[13, 5]),
    ("3x17x9", &[3, 17, 9]),
];

/// Shape families of casts (one pair of dtypes each; the other families are the unary ones').
const CAST_SHAPES: [(&str, &[usize]); 3] =
    [("scalar", &[]), ("empty", &[0, 3]), ("3x17x9", &[3, 17, 9])];

/// Shape pairs of broadcasting elementwise operators.
type ShapePair = (&'static str, &'static [usize], &'static [usize]);
const BINARY_SHAPES: [ShapePair; 12] = [
    ("scalar", &[], &[]),
    ("empty", &[0, 3], &[0, 3]),
    ("one", &[1], &[1]),
    ("n7", &[7], &[7]),
    ("n33", &[33], &[33]),
    ("13x5", &[13, 5], &[13, 5]),
    ("bcast_right", &[3, 17], &[17]),
    ("bcast_left", &[17], &[3, 17]),
    ("bcast_both", &[5, 1], &[1, 9]),
    ("bcast_scalar_left", &[], &[5, 3]),
    ("bcast_scalar_right", &[5, 3], &[]),
    ("bcast_rank3", &[2, 1, 5], &[3, 1]),
];

/// One input of `dtype`.
fn inp(dtype: DType, shape: &[usize]) -> Operand {
    Operand::Input {
        dtype,
        shape: shape.to_vec(),
        domain: Domain::Any,
    }
}

fn inp_d(dtype: DType, shape: &[usize], domain: Domain) -> Operand {
    Operand::Input {
        dtype,
        shape: shape.to_vec(),
        domain,
    }
}

fn ints(v: &[i64]) -> Operand {
    Operand::Const(Tensor::from_slice(&[v.len()], v).unwrap_or_else(|_| Tensor::scalar(0i64)))
}

fn int_scalar(v: i64) -> Operand {
    Operand::Const(Tensor::scalar(v))
}

/// Builds the catalogue.
struct Builder {
    cases: Vec<CaseSpec>,
    accepted: HashMap<(String, DType), bool>,
}

impl Builder {
    /// Adds a case if its graph builds (the op accepts the dtype and shapes).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        op: &Op,
        label: &str,
        dtype: DType,
        shape_family: &str,
        values: Values,
        operands: Vec<Operand>,
        num_outputs: usize,
        terms: usize,
    ) -> bool {
        let name = format!("{label}/{}/{shape_family}/{}", dtype.name(), values.name());
        let spec = CaseSpec {
            name,
            op: op.name().to_string(),
            dtype,
            node: op.clone(),
            operands,
            num_outputs,
            values,
            terms,
        };
        if spec.graph().is_err() {
            return false;
        }
        self.cases.push(spec);
        true
    }

    /// Whether `op` accepts `dtype` on the probe operands (cached by label).
    fn accepts(&mut self, label: &str, op: &Op, dtype: DType, probe: Vec<Operand>) -> bool {
        let key = (label.to_string(), dtype);
        if let Some(&a) = self.accepted.get(&key) {
            return a;
        }
        let spec = CaseSpec {
            name: "probe".into(),
            op: op.name().into(),
            dtype,
            node: op.clone(),
            operands: probe,
            num_outputs: 1,
            values: Values::Ordinary,
            terms: 1,
        };
        let a = spec.graph().is_ok();
        self.accepted.insert(key, a);
        a
    }

    /// An elementwise op of one operand: every shape family with ordinary values, the extra
    /// value families on an odd-sized vector.
    fn unary(&mut self, op: Op, label: &str) {
        self.unary_shapes(op, label, &UNARY_SHAPES);
    }

    /// [`Builder::unary`] over the given shape families.
    fn unary_shapes(&mut self, op: Op, label: &str, shapes: &[(&str, &[usize])]) {
        for dtype in DTYPES {
            if !self.accepts(label, &op, dtype, vec![inp(dtype, &[7])]) {
                continue;
            }
            for &(sf, shape) in shapes {
                self.add(
                    &op,
                    label,
                    dtype,
                    sf,
                    Values::Ordinary,
                    vec![inp(dtype, shape)],
                    1,
                    1,
                );
            }
            for &v in Values::extra_for(dtype) {
                self.add(&op, label, dtype, "n33", v, vec![inp(dtype, &[33])], 1, 1);
            }
        }
    }

    /// An elementwise op of two operands: every shape pair, the extra value families on an
    /// odd-sized vector. `second` constrains the second operand per dtype.
    fn binary(&mut self, op: Op, second: impl Fn(DType) -> Domain) {
        let label = op.name().to_string();
        for dtype in DTYPES {
            let d2 = second(dtype);
            if !self.accepts(&label, &op, dtype, vec![inp(dtype, &[7]), inp(dtype, &[7])]) {
                continue;
            }
            for (sf, a, b) in BINARY_SHAPES {
                let ops = vec![inp(dtype, a), inp_d(dtype, b, d2)];
                self.add(&op, &label, dtype, sf, Values::Ordinary, ops, 1, 1);
            }
            for &v in Values::extra_for(dtype) {
                // Integer division of MIN by -1 overflows: no extremes for division.
                if v == Values::Extremes && d2 != Domain::Any {
                    continue;
                }
                let ops = vec![inp(dtype, &[33]), inp_d(dtype, &[33], d2)];
                self.add(&op, &label, dtype, "n33", v, ops, 1, 1);
            }
        }
    }

    fn variadic(&mut self, op: VariadicOp) {
        let o = Op::Variadic(op);
        let label = op.name();
        let families: [(&str, &[&[usize]]); 5] = [
            ("one_operand", &[&[7]]),
            ("n33", &[&[33], &[33]]),
            ("bcast_right", &[&[3, 17], &[17]]),
            ("bcast_three", &[&[3, 1], &[1, 4], &[4]]),
            ("scalar", &[&[], &[]]),
        ];
        for dtype in DTYPES {
            if !self.accepts(label, &o, dtype, vec![inp(dtype, &[7]), inp(dtype, &[7])]) {
                continue;
            }
            for (sf, shapes) in families {
                let ops = shapes.iter().map(|s| inp(dtype, s)).collect();
                self.add(&o, label, dtype, sf, Values::Ordinary, ops, 1, 1);
            }
            for &v in Values::extra_for(dtype) {
                let ops = vec![inp(dtype, &[33]), inp(dtype, &[33]), inp(dtype, &[33])];
                self.add(&o, label, dtype, "n33x3", v, ops, 1, 3);
            }
        }
    }

    fn reduce(&mut self, kind: ReduceOp) {
        let label = kind.name();
        let op = |keepdims| Op::Reduce {
            kind,
            keepdims,
            noop_with_empty_axes: false,
        };
        // (family, shape, axes or None for all, keepdims, terms)
        type R = (
            &'static str,
            &'static [usize],
            Option<&'static [i64]>,
            bool,
            usize,
        );
        let families: [R; 10] = [
            ("5x7x3_axis0", &[5, 7, 3], Some(&[0]), true, 5),
            ("5x7x3_axis1", &[5, 7, 3], Some(&[1]), true, 7),
            ("5x7x3_axis2", &[5, 7, 3], Some(&[2]), true, 3),
            ("5x7x3_axis-1_nokeep", &[5, 7, 3], Some(&[-1]), false, 3),
            ("5x7x3_axes02", &[5, 7, 3], Some(&[0, 2]), true, 15),
            ("5x7x3_all", &[5, 7, 3], None, false, 105),
            ("scalar_all", &[], None, true, 1),
            ("one", &[1], None, false, 1),
            ("n1000_all", &[1000], None, false, 1000),
            ("empty_axis0", &[0, 4], Some(&[0]), true, 1),
        ];
        for dtype in DTYPES {
            if !self.accepts(label, &op(true), dtype, vec![inp(dtype, &[7])]) {
                continue;
            }
            // Integer logs and means of empty sets have no integer value: such cases would
            // test nothing but the reference's refusal.
            let int = !dtype.is_float();
            let log = matches!(kind, ReduceOp::LogSum | ReduceOp::LogSumExp);
            let domain = if int && log {
                Domain::Positive
            } else {
                Domain::Any
            };
            for (sf, shape, axes, keep, terms) in families {
                let empty = shape.contains(&0);
                if int && empty && (log || kind == ReduceOp::Mean) {
                    continue;
                }
                let mut ops = vec![inp_d(dtype, shape, domain)];
                if let Some(a) = axes {
                    ops.push(ints(a));
                }
                self.add(&op(keep), label, dtype, sf, Values::Ordinary, ops, 1, terms);
            }
            // A signed sum of large terms overflows in one summation order and not in
            // another: its terms are scaled so that no order overflows (`Domain::Summand`).
            let signed_sum = matches!(kind, ReduceOp::Sum | ReduceOp::Mean | ReduceOp::LogSum);
            for &v in Values::extra_for(dtype) {
                if int && log {
                    continue;
                }
                let domain = if signed_sum && v == Values::Large {
                    Domain::Summand(33)
                } else {
                    Domain::Any
                };
                let ops = vec![inp_d(dtype, &[4, 33], domain), ints(&[1])];
                self.add(&op(true), label, dtype, "4x33_axis1", v, ops, 1, 33);
            }
            // An overflow every order agrees on: a sum of large positive terms exceeds the
            // range whatever the order and the accumulator's width, so `+inf` is the answer.
            // (A mean or a log of such a sum is finite with a wider accumulator: no such case.)
            if kind == ReduceOp::Sum && dtype.is_float() && !dtype.is_low_precision() {
                let ops = vec![inp_d(dtype, &[4, 33], Domain::NonNegative), ints(&[1])];
                let sf = "4x33_axis1_overflow";
                self.add(&op(true), label, dtype, sf, Values::Large, ops, 1, 33);
            }
        }
    }

    /// A case per dtype (those the op accepts) from a template of operands.
    #[allow(clippy::too_many_arguments)]
    fn each_dtype(
        &mut self,
        op: Op,
        label: &str,
        family: &str,
        dtypes: &[DType],
        num_outputs: usize,
        terms: usize,
        operands: impl Fn(DType) -> Vec<Operand>,
    ) {
        for &dtype in dtypes {
            self.add(
                &op,
                label,
                dtype,
                family,
                Values::Ordinary,
                operands(dtype),
                num_outputs,
                terms,
            );
        }
    }
}

const FLOATS: [DType; 4] = [DType::F32, DType::F16, DType::BF16, DType::F64];
const NUMERIC: [DType; 9] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I32,
    DType::I64,
    DType::U64,
];

/// The whole catalogue, in a stable order.
pub fn catalogue() -> Vec<CaseSpec> {
    let mut b = Builder {
        cases: Vec::new(),
        accepted: HashMap::new(),
    };
    for &u in UnaryOp::ALL {
        b.unary(Op::Unary(u), u.name());
    }
    let attr_unary: Vec<Op> = vec![
        Op::LeakyRelu { alpha: 0.1 },
        Op::Elu { alpha: 1.0 },
        Op::Selu {
            alpha: 1.673_263_2,
            gamma: 1.050_701,
        },
        Op::Celu { alpha: 1.5 },
        Op::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Op::ThresholdedRelu { alpha: 1.0 },
        Op::Shrink {
            bias: 0.5,
            lambd: 1.0,
        },
        Op::IsInf {
            detect_negative: true,
            detect_positive: true,
        },
    ];
    for op in attr_unary {
        let label = op.name().to_string();
        b.unary(op, &label);
    }
    b.unary(
        Op::Gelu {
            approximate: GeluApprox::None,
        },
        "gelu",
    );
    b.unary(
        Op::Gelu {
            approximate: GeluApprox::Tanh,
        },
        "gelu_tanh",
    );
    for to in DTYPES {
        let op = Op::Cast { to, saturate: true };
        b.unary_shapes(op, &format!("cast_to_{}", to.name()), &CAST_SHAPES);
    }
    for &bop in BinaryOp::ALL {
        let second = move |d: DType| match bop {
            BinaryOp::Div | BinaryOp::Mod | BinaryOp::FMod if !d.is_float() => Domain::NonZero,
            BinaryOp::Pow if !d.is_float() => Domain::SmallExp,
            BinaryOp::BitShiftLeft | BinaryOp::BitShiftRight => Domain::Shift,
            _ => Domain::Any,
        };
        b.binary(Op::Binary(bop), second);
    }
    for &v in VariadicOp::ALL {
        b.variadic(v);
    }
    for &r in ReduceOp::ALL {
        b.reduce(r);
    }
    others(&mut b);
    large(&mut b);
    b.cases
}

/// One ≥16M-element case per operator family.
fn large(b: &mut Builder) {
    const N: usize = 4096;
    let f = DType::F32;
    let big = [N, N];
    b.add(
        &Op::Unary(UnaryOp::Exp),
        "exp",
        f,
        "16M",
        Values::Ordinary,
        vec![inp(f, &big)],
        1,
        1,
    );
    b.add(
        &Op::Binary(BinaryOp::Add),
        "add",
        f,
        "16M_bcast",
        Values::Ordinary,
        vec![inp(f, &big), inp(f, &[N])],
        1,
        1,
    );
    let sum = Op::Reduce {
        kind: ReduceOp::Sum,
        keepdims: false,
        noop_with_empty_axes: false,
    };
    b.add(
        &sum,
        "reduce_sum",
        f,
        "16M_axis1",
        Values::Ordinary,
        vec![inp(f, &big), ints(&[1])],
        1,
        N,
    );
    b.add(
        &Op::Transpose { perm: vec![1, 0] },
        "transpose",
        f,
        "16M",
        Values::Ordinary,
        vec![inp(f, &big)],
        1,
        1,
    );
    b.add(
        &Op::MatMul {},
        "matmul",
        f,
        "16M_out",
        Values::Ordinary,
        vec![inp(f, &[2048, 8]), inp(f, &[8, 8192])],
        1,
        8,
    );
    b.add(
        &Op::Softmax { axis: -1 },
        "softmax",
        f,
        "16M",
        Values::Ordinary,
        vec![inp(f, &big)],
        1,
        N,
    );
    b.add(
        &Op::Cast {
            to: DType::F16,
            saturate: true,
        },
        "cast_to_f16",
        f,
        "16M",
        Values::Ordinary,
        vec![inp(f, &big)],
        1,
        1,
    );
}

/// Every other operator, from templates.
fn others(b: &mut Builder) {
    let all = DTYPES;
    // Selection and clipping.
    for (sf, x, lo, hi) in [
        ("n33_both", &[33][..], true, true),
        ("3x17_min_only", &[3, 17][..], true, false),
        ("scalar_max_only", &[][..], false, true),
        ("empty", &[0, 2][..], true, true),
    ] {
        b.each_dtype(Op::Clip {}, "clip", sf, &NUMERIC, 1, 1, |d| {
            vec![
                inp(d, x),
                if lo { inp(d, &[]) } else { Operand::Absent },
                if hi { inp(d, &[]) } else { Operand::Absent },
            ]
        });
    }
    for (sf, c, x, y) in [
        ("n33", &[33][..], &[33][..], &[33][..]),
        ("bcast", &[3, 1][..], &[1, 5][..], &[5][..]),
        ("scalar_cond", &[][..], &[4][..], &[4][..]),
        ("empty", &[0][..], &[0][..], &[0][..]),
    ] {
        b.each_dtype(Op::Where {}, "where", sf, &all, 1, 1, |d| {
            vec![inp(DType::Bool, c), inp(d, x), inp(d, y)]
        });
    }
    // Contractions.
    for (sf, a, bb, k) in [
        ("3x4_4x5", &[3, 4][..], &[4, 5][..], 4),
        ("vec_mat", &[7][..], &[7, 3][..], 7),
        ("mat_vec", &[3, 7][..], &[7][..], 7),
        ("batch_bcast", &[2, 3, 4][..], &[4, 5][..], 4),
        ("batch_both", &[2, 1, 3, 4][..], &[3, 4, 6][..], 4),
        ("1x1", &[1, 1][..], &[1, 1][..], 1),
        ("empty_m", &[0, 3][..], &[3, 4][..], 3),
        ("empty_k", &[3, 0][..], &[0, 4][..], 1),
        ("33x17_17x9", &[33, 17][..], &[17, 9][..], 17),
        ("k1000", &[2, 1000][..], &[1000, 3][..], 1000),
    ] {
        b.each_dtype(Op::MatMul {}, "matmul", sf, &NUMERIC, 1, k, |d| {
            vec![inp(d, a), inp(d, bb)]
        });
    }
    for (ta, tb, c) in [
        (false, false, true),
        (true, false, true),
        (false, true, false),
        (true, true, true),
    ] {
        let op = Op::Gemm {
            alpha: 0.5,
            beta: 2.0,
            trans_a: ta,
            trans_b: tb,
        };
        let sf = format!("ta{}_tb{}_c{}", ta as u8, tb as u8, c as u8);
        b.each_dtype(op, "gemm", &sf, &FLOATS, 1, 6, |d| {
            let a = if ta { [6, 3] } else { [3, 6] };
            let bm = if tb { [5, 6] } else { [6, 5] };
            vec![
                inp(d, &a),
                inp(d, &bm),
                if c { inp(d, &[5]) } else { Operand::Absent },
            ]
        });
    }
    for (sf, eq, shapes, k) in [
        ("ij_jk", "ij,jk->ik", vec![vec![3, 4], vec![4, 5]], 4),
        (
            "bij_bjk",
            "bij,bjk->bik",
            vec![vec![2, 3, 4], vec![2, 4, 5]],
            4,
        ),
        ("ij_ji", "ij->ji", vec![vec![3, 5]], 1),
        ("ij_sum", "ij->i", vec![vec![3, 7]], 7),
        ("outer", "i,j->ij", vec![vec![3], vec![4]], 1),
    ] {
        let op = Op::Einsum {
            equation: eq.into(),
        };
        b.each_dtype(op, "einsum", sf, &FLOATS, 1, k, |d| {
            shapes.iter().map(|s| inp(d, s)).collect()
        });
    }
    // Convolutions and pooling.
    let conv = |pads: Vec<i64>, strides: Vec<i64>, group: i64, dil: Vec<i64>| Op::Conv {
        auto_pad: AutoPad::NotSet,
        dilations: dil,
        group,
        kernel_shape: Vec::new(),
        pads,
        strides,
    };
    type ConvCase = (&'static str, Op, Vec<usize>, Vec<usize>, bool, usize);
    let conv_cases: Vec<ConvCase> = vec![
        (
            "2d_basic",
            conv(vec![], vec![], 1, vec![]),
            vec![1, 2, 7, 7],
            vec![3, 2, 3, 3],
            true,
            18,
        ),
        (
            "2d_pad_stride",
            conv(vec![1, 1, 1, 1], vec![2, 2], 1, vec![]),
            vec![2, 2, 9, 7],
            vec![4, 2, 3, 3],
            false,
            18,
        ),
        (
            "2d_group",
            conv(vec![], vec![], 2, vec![]),
            vec![1, 4, 6, 6],
            vec![4, 2, 3, 3],
            true,
            18,
        ),
        (
            "2d_dilated",
            conv(vec![], vec![], 1, vec![2, 2]),
            vec![1, 1, 9, 9],
            vec![2, 1, 3, 3],
            false,
            9,
        ),
        (
            "1d",
            conv(vec![2, 0], vec![], 1, vec![]),
            vec![1, 3, 17],
            vec![2, 3, 5],
            true,
            15,
        ),
    ];
    for (sf, op, x, w, bias, k) in conv_cases {
        let oc = w[0];
        b.each_dtype(op, "conv", sf, &FLOATS, 1, k, |d| {
            vec![
                inp(d, &x),
                inp(d, &w),
                if bias { inp(d, &[oc]) } else { Operand::Absent },
            ]
        });
    }
    let convt = |strides: Vec<i64>| Op::ConvTranspose {
        auto_pad: AutoPad::NotSet,
        dilations: vec![],
        group: 1,
        kernel_shape: vec![],
        output_padding: vec![],
        output_shape: vec![],
        pads: vec![],
        strides,
    };
    b.each_dtype(
        convt(vec![2]),
        "conv_transpose",
        "1d_stride2",
        &FLOATS,
        1,
        3,
        |d| vec![inp(d, &[1, 1, 5]), inp(d, &[1, 2, 3])],
    );
    b.each_dtype(
        convt(vec![2, 2]),
        "conv_transpose",
        "2d_stride2",
        &FLOATS,
        1,
        18,
        |d| vec![inp(d, &[1, 2, 4, 5]), inp(d, &[2, 3, 3, 3])],
    );
    for (sf, k, s, p, ceil) in [
        ("3x3", vec![3, 3], vec![], vec![], false),
        ("2x2_s2", vec![2, 2], vec![2, 2], vec![], false),
        (
            "3x3_pad_ceil",
            vec![3, 3],
            vec![2, 2],
            vec![1, 1, 1, 1],
            true,
        ),
    ] {
        let mp = Op::MaxPool {
            auto_pad: AutoPad::NotSet,
            ceil_mode: ceil,
            dilations: vec![],
            kernel_shape: k.clone(),
            pads: p.clone(),
            storage_order: 0,
            strides: s.clone(),
        };
        b.each_dtype(mp, "max_pool", sf, &NUMERIC, 1, 1, |d| {
            vec![inp(d, &[1, 2, 7, 9])]
        });
        let ap = Op::AveragePool {
            auto_pad: AutoPad::NotSet,
            ceil_mode: ceil,
            count_include_pad: false,
            dilations: vec![],
            kernel_shape: k,
            pads: p,
            strides: s,
        };
        b.each_dtype(ap, "average_pool", sf, &FLOATS, 1, 9, |d| {
            vec![inp(d, &[1, 2, 7, 9])]
        });
    }
    for (sf, shape) in [("2d", &[2, 3, 5, 7][..]), ("1d", &[1, 4, 33][..])] {
        b.each_dtype(
            Op::GlobalAveragePool {},
            "global_average_pool",
            sf,
            &FLOATS,
            1,
            35,
            |d| vec![inp(d, shape)],
        );
        b.each_dtype(
            Op::GlobalMaxPool {},
            "global_max_pool",
            sf,
            &FLOATS,
            1,
            1,
            |d| vec![inp(d, shape)],
        );
    }
    // Normalizations.
    let bn = Op::BatchNormalization {
        epsilon: 1e-5,
        momentum: 0.9,
        training_mode: false,
    };
    b.each_dtype(bn, "batch_normalization", "2x3x5x4", &FLOATS, 1, 4, |d| {
        let c = &[3][..];
        vec![
            inp(d, &[2, 3, 5, 4]),
            inp(d, c),
            inp(d, c),
            inp(d, c),
            inp_d(d, c, Domain::Positive),
        ]
    });
    b.each_dtype(
        Op::InstanceNormalization { epsilon: 1e-5 },
        "instance_normalization",
        "2x3x17",
        &FLOATS,
        1,
        17,
        |d| vec![inp(d, &[2, 3, 17]), inp(d, &[3]), inp(d, &[3])],
    );
    for (sf, axis, shape, norm) in [
        ("last", -1, &[4, 33][..], &[33][..]),
        ("axis1", 1, &[2, 3, 7][..], &[3, 7][..]),
    ] {
        let op = Op::LayerNormalization {
            axis,
            epsilon: 1e-5,
            stash_type: 1,
        };
        let terms = norm.iter().product();
        b.each_dtype(op, "layer_normalization", sf, &FLOATS, 1, terms, |d| {
            vec![inp(d, shape), inp(d, norm), inp(d, norm)]
        });
    }
    // Softmax family, arg reductions, scans.
    for axis in [0i64, 1, -1] {
        let sf = format!("5x33_axis{axis}");
        let terms = if axis == 0 { 5 } else { 33 };
        for (op, label) in [
            (Op::Softmax { axis }, "softmax"),
            (Op::LogSoftmax { axis }, "log_softmax"),
            (Op::Hardmax { axis }, "hardmax"),
        ] {
            b.each_dtype(op.clone(), label, &sf, &FLOATS, 1, terms, |d| {
                vec![inp(d, &[5, 33])]
            });
            b.add(
                &op,
                label,
                DType::F32,
                &sf,
                Values::Special,
                vec![inp(DType::F32, &[5, 33])],
                1,
                terms,
            );
        }
        for last in [false, true] {
            for (op, label) in [
                (
                    Op::ArgMax {
                        axis,
                        keepdims: last,
                        select_last_index: last,
                    },
                    "argmax",
                ),
                (
                    Op::ArgMin {
                        axis,
                        keepdims: last,
                        select_last_index: last,
                    },
                    "argmin",
                ),
            ] {
                let sf = format!("5x33_axis{axis}_last{}", last as u8);
                b.each_dtype(op, label, &sf, &NUMERIC, 1, 1, |d| vec![inp(d, &[5, 33])]);
            }
        }
        for (ex, rev) in [(false, false), (true, false), (false, true), (true, true)] {
            let sf = format!("5x33_axis{axis}_ex{}_rev{}", ex as u8, rev as u8);
            let op = Op::CumSum {
                exclusive: ex,
                reverse: rev,
            };
            b.each_dtype(op, "cumsum", &sf, &NUMERIC, 1, terms, |d| {
                vec![inp(d, &[5, 33]), int_scalar(axis)]
            });
            let op = Op::CumProd {
                exclusive: ex,
                reverse: rev,
            };
            b.each_dtype(op, "cum_prod", &sf, &FLOATS, 1, terms, |d| {
                vec![inp_d(d, &[5, 33], Domain::Positive), int_scalar(axis)]
            });
        }
    }
    for (largest, sorted) in [(true, true), (false, true)] {
        let op = Op::TopK {
            axis: -1,
            largest,
            sorted,
        };
        let sf = format!("4x33_k5_largest{}", largest as u8);
        b.each_dtype(op, "top_k", &sf, &NUMERIC, 2, 1, |d| {
            vec![inp(d, &[4, 33]), ints(&[5])]
        });
    }
    movement(b);
    gathers(b);
    misc(b);
    structured::structured(b);
}

/// Movement ops: exact for every dtype.
fn movement(b: &mut Builder) {
    let all = DTYPES;
    for (sf, shape, target) in [
        ("flatten", &[3, 4, 5][..], &[-1][..]),
        ("split_dim", &[12][..], &[3, 0, -1][..]),
        ("empty", &[0, 4][..], &[4, 0][..]),
        ("scalar_to_1", &[][..], &[1][..]),
    ] {
        b.each_dtype(
            Op::Reshape { allowzero: false },
            "reshape",
            sf,
            &all,
            1,
            1,
            |d| vec![inp(d, shape), ints(target)],
        );
    }
    for (sf, shape, perm) in [
        ("2d", &[5, 7][..], &[1, 0][..]),
        ("3d_201", &[3, 5, 7][..], &[2, 0, 1][..]),
        ("4d_0213", &[2, 3, 5, 7][..], &[0, 2, 1, 3][..]),
        ("reverse_default", &[3, 4, 5][..], &[][..]),
        ("empty", &[0, 3][..], &[1, 0][..]),
    ] {
        let op = Op::Transpose {
            perm: perm.to_vec(),
        };
        b.each_dtype(op, "transpose", sf, &all, 1, 1, |d| vec![inp(d, shape)]);
    }
    for (sf, shape, to) in [
        ("row", &[1, 7][..], &[5, 7][..]),
        ("col", &[5, 1][..], &[5, 7][..]),
        ("rank_up", &[7][..], &[2, 3, 7][..]),
        ("scalar", &[][..], &[4, 3][..]),
    ] {
        b.each_dtype(Op::Expand {}, "expand", sf, &all, 1, 1, |d| {
            vec![inp(d, shape), ints(to)]
        });
    }
    b.each_dtype(Op::Squeeze {}, "squeeze", "axes", &all, 1, 1, |d| {
        vec![inp(d, &[1, 5, 1, 3]), ints(&[0, 2])]
    });
    b.each_dtype(Op::Squeeze {}, "squeeze", "all", &all, 1, 1, |d| {
        vec![inp(d, &[1, 5, 1, 3])]
    });
    b.each_dtype(
        Op::Unsqueeze {},
        "unsqueeze",
        "front_back",
        &all,
        1,
        1,
        |d| vec![inp(d, &[5, 3]), ints(&[0, 3])],
    );
    for axis in [0i64, 1, 2] {
        let sf = format!("axis{axis}");
        b.each_dtype(Op::Flatten { axis }, "flatten", &sf, &all, 1, 1, |d| {
            vec![inp(d, &[2, 3, 5])]
        });
    }
    for (sf, axis, shapes) in [
        ("axis0", 0i64, vec![vec![2, 5], vec![3, 5]]),
        ("axis1_three", 1, vec![vec![2, 1], vec![2, 7], vec![2, 3]]),
        ("with_empty", 0, vec![vec![0, 4], vec![3, 4]]),
    ] {
        b.each_dtype(Op::Concat { axis }, "concat", sf, &all, 1, 1, |d| {
            shapes.iter().map(|s| inp(d, s)).collect()
        });
    }
    b.each_dtype(
        Op::Split {
            axis: 1,
            num_outputs: None,
        },
        "split",
        "sizes_2_5",
        &all,
        2,
        1,
        |d| vec![inp(d, &[3, 7]), ints(&[2, 5])],
    );
    b.each_dtype(
        Op::Split {
            axis: 0,
            num_outputs: Some(3),
        },
        "split",
        "three_uneven",
        &all,
        3,
        1,
        |d| vec![inp(d, &[7])],
    );
    for (sf, shape, starts, ends, axes, steps) in [
        (
            "basic",
            &[5, 9][..],
            &[1, 2][..],
            &[4, 8][..],
            &[0, 1][..],
            &[1, 2][..],
        ),
        (
            "negative_step",
            &[9][..],
            &[-1][..],
            &[-10][..],
            &[0][..],
            &[-2][..],
        ),
        (
            "clamped",
            &[4, 6][..],
            &[-100][..],
            &[100][..],
            &[1][..],
            &[1][..],
        ),
        (
            "empty_result",
            &[5][..],
            &[3][..],
            &[3][..],
            &[0][..],
            &[1][..],
        ),
    ] {
        b.each_dtype(Op::Slice {}, "slice", sf, &all, 1, 1, |d| {
            vec![
                inp(d, shape),
                ints(starts),
                ints(ends),
                ints(axes),
                ints(steps),
            ]
        });
    }
    for (sf, mode, pads) in [
        ("constant", PadMode::Constant, &[1, 0, 2, 3][..]),
        ("reflect", PadMode::Reflect, &[1, 2, 1, 2][..]),
        ("edge", PadMode::Edge, &[0, 3, 2, 0][..]),
        ("wrap", PadMode::Wrap, &[1, 1, 2, 2][..]),
        ("negative", PadMode::Constant, &[-1, 1, 0, -2][..]),
    ] {
        b.each_dtype(Op::Pad { mode }, "pad", sf, &all, 1, 1, |d| {
            vec![inp(d, &[4, 5]), ints(pads)]
        });
    }
    for (sf, shape, reps) in [
        ("2d", &[2, 3][..], &[3, 2][..]),
        ("ones", &[4][..], &[1][..]),
    ] {
        b.each_dtype(Op::Tile {}, "tile", sf, &all, 1, 1, |d| {
            vec![inp(d, shape), ints(reps)]
        });
    }
    for (sf, upper, k) in [("upper", true, None), ("lower_k1", false, Some(1))] {
        b.each_dtype(Op::Trilu { upper }, "trilu", sf, &all, 1, 1, |d| {
            vec![inp(d, &[2, 5, 6]), k.map_or(Operand::Absent, int_scalar)]
        });
    }
    b.each_dtype(
        Op::AsStrided {
            shape: vec![3, 3],
            strides: vec![4, 1],
            offset: 1,
        },
        "as_strided",
        "windows",
        &all,
        1,
        1,
        |d| vec![inp(d, &[16])],
    );
    b.each_dtype(
        Op::AsStrided {
            shape: vec![5],
            strides: vec![-1],
            offset: 4,
        },
        "as_strided",
        "flip",
        &all,
        1,
        1,
        |d| vec![inp(d, &[5])],
    );
    b.each_dtype(
        Op::Dropout { seed: None },
        "dropout",
        "inference",
        &all,
        1,
        1,
        |d| vec![inp(d, &[33])],
    );
}

/// Gathers and scatters: exact.
fn gathers(b: &mut Builder) {
    let all = DTYPES;
    let idx = |shape: &[usize], n: i64| inp_d(DType::I64, shape, Domain::Index(n));
    let idx0 = |shape: &[usize], n: i64| inp_d(DType::I64, shape, Domain::IndexNonNeg(n));
    for (sf, axis, data, ishape, n) in [
        ("axis0", 0i64, &[5, 4][..], &[3][..], 5),
        ("axis1_2d_idx", 1, &[3, 6][..], &[2, 2][..], 6),
        ("scalar_idx", 0, &[7][..], &[][..], 7),
    ] {
        b.each_dtype(Op::Gather { axis }, "gather", sf, &all, 1, 1, |d| {
            vec![inp(d, data), idx(ishape, n)]
        });
    }
    b.each_dtype(
        Op::GatherElements { axis: 1 },
        "gather_elements",
        "axis1",
        &all,
        1,
        1,
        |d| vec![inp(d, &[3, 5]), idx(&[3, 4], 5)],
    );
    b.each_dtype(
        Op::GatherND { batch_dims: 0 },
        "gather_nd",
        "pairs",
        &all,
        1,
        1,
        |d| vec![inp(d, &[3, 4, 2]), idx0(&[5, 2], 3)],
    );
    for red in [ScatterReduction::None, ScatterReduction::Add] {
        let sf = red.name();
        b.each_dtype(
            Op::ScatterElements {
                axis: 0,
                reduction: red,
            },
            "scatter_elements",
            sf,
            &NUMERIC,
            1,
            1,
            |d| {
                let i = Tensor::from_slice(&[2, 3], &[0i64, 1, 2, 2, 0, 1])
                    .unwrap_or_else(|_| Tensor::scalar(0i64));
                vec![inp(d, &[3, 3]), Operand::Const(i), inp(d, &[2, 3])]
            },
        );
        b.each_dtype(
            Op::ScatterND { reduction: red },
            "scatter_nd",
            sf,
            &NUMERIC,
            1,
            1,
            |d| {
                let i = Tensor::from_slice(&[2, 1], &[3i64, 0])
                    .unwrap_or_else(|_| Tensor::scalar(0i64));
                vec![inp(d, &[4, 3]), Operand::Const(i), inp(d, &[2, 3])]
            },
        );
    }
}

/// Shape queries, generators and the remaining operators.
fn misc(b: &mut Builder) {
    let all = DTYPES;
    b.each_dtype(
        Op::Shape {
            start: 0,
            end: None,
        },
        "shape",
        "3d",
        &all,
        1,
        1,
        |d| vec![inp(d, &[2, 3, 4])],
    );
    b.each_dtype(
        Op::Shape {
            start: 1,
            end: Some(-1),
        },
        "shape",
        "slice",
        &all,
        1,
        1,
        |d| vec![inp(d, &[2, 3, 4, 5])],
    );
    b.each_dtype(Op::Size {}, "size", "3d", &all, 1, 1, |d| {
        vec![inp(d, &[2, 3, 4])]
    });
    b.each_dtype(Op::NonZero {}, "non_zero", "2d", &NUMERIC, 1, 1, |d| {
        vec![inp(d, &[4, 5])]
    });
    for d in [DType::F32, DType::I32, DType::I64, DType::F64] {
        let (s, l, dl) = if d.is_float() {
            (scalar_of(d, 1.0), scalar_of(d, 7.5), scalar_of(d, 0.5))
        } else {
            (scalar_of(d, -3.0), scalar_of(d, 20.0), scalar_of(d, 3.0))
        };
        b.add(
            &Op::Range {},
            "range",
            d,
            "scalars",
            Values::Ordinary,
            vec![Operand::Const(s), Operand::Const(l), Operand::Const(dl)],
            1,
            1,
        );
    }
    for d in [DType::F32, DType::I64, DType::Bool, DType::F16] {
        let value = scalar_of(d, 1.0)
            .reshaped(&[1])
            .unwrap_or_else(|_| Tensor::scalar(0f32));
        b.add(
            &Op::ConstantOfShape { value },
            "constant_of_shape",
            d,
            "2x3",
            Values::Ordinary,
            vec![ints(&[2, 3])],
            1,
            1,
        );
    }
    for to in [DType::I32, DType::U32, DType::F32] {
        let op = Op::BitCast { to };
        b.each_dtype(
            op,
            &format!("bit_cast_to_{}", to.name()),
            "n33",
            &all,
            1,
            1,
            |d| vec![inp(d, &[33])],
        );
    }
    b.each_dtype(Op::Det {}, "det", "2x3x3", &FLOATS, 1, 3, |d| {
        vec![inp(d, &[2, 3, 3])]
    });
    for (sf, inverse, onesided) in [
        ("forward", false, false),
        ("inverse", true, false),
        ("onesided", false, true),
    ] {
        b.each_dtype(
            Op::Dft { inverse, onesided },
            "dft",
            sf,
            &FLOATS,
            1,
            8,
            |d| {
                let last = if onesided { 1 } else { 2 };
                vec![inp(d, &[2, 8, last]), Operand::Absent, int_scalar(1)]
            },
        );
    }
    b.each_dtype(
        Op::Stft { onesided: true },
        "stft",
        "frames",
        &FLOATS,
        1,
        8,
        |d| {
            vec![
                inp(d, &[1, 32, 1]),
                int_scalar(4),
                Operand::Absent,
                int_scalar(8),
            ]
        },
    );
    for (sf, mode, pm) in [
        ("linear_zeros", "linear", "zeros"),
        ("nearest_border", "nearest", "border"),
    ] {
        let op = Op::GridSample {
            align_corners: false,
            mode: mode.into(),
            padding_mode: pm.into(),
        };
        b.each_dtype(op, "grid_sample", sf, &FLOATS, 1, 4, |d| {
            vec![inp(d, &[1, 2, 5, 6]), inp(d, &[1, 3, 4, 2])]
        });
    }
    b.each_dtype(
        Op::Unique {
            axis: None,
            sorted: true,
        },
        "unique",
        "sorted",
        &NUMERIC,
        1,
        1,
        |d| vec![inp_d(d, &[20], Domain::SmallExp)],
    );
    for (sf, mode) in [
        ("nearest", ResizeMode::Nearest),
        ("linear", ResizeMode::Linear),
    ] {
        let op = Op::Resize {
            antialias: false,
            axes: vec![],
            coordinate_transformation_mode: CoordTransform::HalfPixel,
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            extrapolation_value: 0.0,
            keep_aspect_ratio_policy: KeepAspectRatio::Stretch,
            mode,
            nearest_mode: NearestMode::RoundPreferFloor,
        };
        b.each_dtype(op, "resize", sf, &FLOATS, 1, 4, |d| {
            let scales = Tensor::from_slice(&[4], &[1f32, 1.0, 2.0, 1.5])
                .unwrap_or_else(|_| Tensor::scalar(0f32));
            vec![
                inp(d, &[1, 2, 3, 4]),
                Operand::Absent,
                Operand::Const(scales),
            ]
        });
    }
}

/// A scalar of `dtype` holding `v` (rounded or truncated to the dtype).
pub fn scalar_of(dtype: DType, v: f64) -> Tensor {
    let bytes = match dtype {
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
        DType::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
        DType::Bool => vec![(v != 0.0) as u8],
        d => (v as i128).to_le_bytes()[..d.size_bytes()].to_vec(),
    };
    Tensor::from_bytes(dtype, &[], bytes).unwrap_or_else(|_| Tensor::scalar(0f32))
}
