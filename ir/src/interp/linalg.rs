//! Reference semantics of the linear-algebra operators: MatMul and Gemm here, Einsum,
//! Conv/ConvTranspose and the pooling ops in submodules, plus the numeric and attribute
//! helpers they share.
//!
//! Floats accumulate in f64 and round once to the output dtype; integers accumulate exactly
//! (modulo 2^128, which is exact modulo every narrower width) and wrap on output.

mod conv;
mod einsum;
mod pool;
mod window;

use super::values::{Arr, Data, broadcast_index, need};
use crate::dtype::DType;
use crate::error::{At, IrError, Result};
use crate::op::Op;
use crate::shape::{Shape, broadcast_shapes, checked_product};
use crate::tensor::Tensor;

/// Evaluates one linalg operator (MatMul, Gemm, Einsum, Conv, ConvTranspose, MaxPool,
/// AveragePool, GlobalAveragePool, GlobalMaxPool) on concrete inputs (`None` = absent
/// optional input). MaxPool yields `(Y, Indices)`; every other op yields one tensor.
pub fn eval(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::MatMul {} => one(matmul(at, need(inputs, 0, at)?, need(inputs, 1, at)?)?),
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => one(gemm(
            at,
            inputs,
            GemmAttrs {
                alpha: *alpha,
                beta: *beta,
                trans_a: *trans_a,
                trans_b: *trans_b,
            },
        )?),
        Op::Einsum { equation } => one(einsum::einsum(at, equation, inputs)?),
        Op::Conv { .. } => one(conv::conv(op, at, inputs)?),
        Op::ConvTranspose { .. } => one(conv::conv_transpose(op, at, inputs)?),
        Op::MaxPool { .. } => pool::max_pool(op, at, need(inputs, 0, at)?, num_outputs),
        Op::AveragePool { .. } => one(pool::average_pool(op, at, need(inputs, 0, at)?)?),
        Op::GlobalAveragePool {} => one(pool::global_pool(at, need(inputs, 0, at)?, false)?),
        Op::GlobalMaxPool {} => one(pool::global_pool(at, need(inputs, 0, at)?, true)?),
        _ => Err(super::values::eval_err(
            at,
            format!("`{}` is not a linalg operator", op.name()),
        )),
    }
}

/// The arithmetic the kernels need, over the interpreter's two working types: f64 (IEEE) and
/// i128 (wrapping, hence exact modulo 2^64 for every integer dtype).
pub(crate) trait Num: Copy + PartialOrd {
    /// Additive identity.
    const ZERO: Self;
    /// `self + o`.
    fn add(self, o: Self) -> Self;
    /// `self * o`.
    fn mul(self, o: Self) -> Self;
    /// The working value of a float attribute (`alpha`, `beta`); `None` when an integer
    /// computation cannot represent it exactly.
    fn from_attr(x: f32) -> Option<Self>;
    /// True for NaN (never for integers).
    fn is_nan(self) -> bool;
}

impl Num for f64 {
    const ZERO: Self = 0.0;
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn from_attr(x: f32) -> Option<Self> {
        Some(x as f64)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

impl Num for i128 {
    const ZERO: Self = 0;
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn mul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
    fn from_attr(x: f32) -> Option<Self> {
        (x.is_finite() && x.fract() == 0.0).then_some(x as i128)
    }
    fn is_nan(self) -> bool {
        false
    }
}

/// The element slices of several same-dtype arrays, all floats or all integers.
pub(crate) enum Slices<'a> {
    /// Float operands (f64).
    F(Vec<&'a [f64]>),
    /// Integer operands (i128).
    I(Vec<&'a [i128]>),
}

/// Splits arrays of one dtype (checked by [`widen_same`]) into typed slices.
pub(crate) fn slices<'a>(at: &At, arrs: &'a [Arr]) -> Result<Slices<'a>> {
    let mut fs = Vec::new();
    let mut is = Vec::new();
    for a in arrs {
        match &a.data {
            Data::F(v) => fs.push(v.as_slice()),
            Data::I(v) => is.push(v.as_slice()),
        }
    }
    match (fs.is_empty(), is.is_empty()) {
        (_, true) => Ok(Slices::F(fs)),
        (true, false) => Ok(Slices::I(is)),
        (false, false) => Err(super::values::eval_err(
            at,
            "operands mix float and integer dtypes",
        )),
    }
}

/// Which dtypes an operator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Every dtype but bool.
    Numeric,
    /// Floating-point dtypes only.
    Float,
}

/// Widens the present operands after checking that they share input 0's dtype and that the
/// dtype is accepted. Absent operands are skipped (the result keeps the order of the present
/// ones).
pub(crate) fn widen_same(at: &At, inputs: &[Option<&Tensor>], accept: Accept) -> Result<Vec<Arr>> {
    let first = need(inputs, 0, at)?.dtype();
    let ok = match accept {
        Accept::Numeric => first.is_numeric(),
        Accept::Float => first.is_float(),
    };
    if !ok {
        return Err(IrError::Unsupported {
            at: at.clone(),
            dtype: first,
            detail: Some(match accept {
                Accept::Numeric => "expected a numeric dtype".into(),
                Accept::Float => "expected a floating-point dtype".into(),
            }),
        });
    }
    let mut out = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.iter().enumerate() {
        let Some(t) = t else { continue };
        if t.dtype() != first {
            return Err(IrError::InputDType {
                at: at.clone(),
                input: i,
                dtype: t.dtype(),
                expected: format!("the dtype of input 0 ({first})"),
            });
        }
        out.push(Arr::from_tensor(t));
    }
    Ok(out)
}

/// The shapes of the present inputs, for [`IrError::InputShape`].
pub(crate) fn shapes_of(inputs: &[Option<&Tensor>]) -> Vec<Shape> {
    inputs.iter().flatten().map(|t| t.ir_shape()).collect()
}

/// An [`IrError::InputShape`] at a node, listing the present inputs' shapes.
pub(crate) fn shape_err(
    at: &At,
    inputs: &[Option<&Tensor>],
    message: impl Into<String>,
) -> IrError {
    IrError::InputShape {
        at: at.clone(),
        message: message.into(),
        shapes: shapes_of(inputs),
    }
}

/// Checks that an output of `shape` can be materialized: its element count, in the
/// interpreter's 16-byte working form, must be addressable. Guards against shapes whose product
/// overflows (e.g. `(2^40, 0) x (0, 2^40)` matmuls or huge pads).
pub(crate) fn check_output(at: &At, inputs: &[Option<&Tensor>], shape: &[usize]) -> Result<()> {
    if addressable(shape) {
        Ok(())
    } else {
        Err(shape_err(
            at,
            inputs,
            format!("the output shape {shape:?} is too large to evaluate"),
        ))
    }
}

/// True when `shape`'s elements, at 16 bytes each, fit in an allocation.
pub(crate) fn addressable(shape: &[usize]) -> bool {
    checked_product(shape)
        .and_then(|n| n.checked_mul(16))
        .is_some_and(|bytes| bytes <= isize::MAX as usize)
}

/// An [`IrError::Attribute`] at a node.
pub(crate) fn attr_err(at: &At, attr: &'static str, message: impl Into<String>) -> IrError {
    IrError::Attribute {
        at: at.clone(),
        attr,
        message: message.into(),
    }
}

/// Packs computed elements as a tensor of `dtype` (floats round, integers wrap).
pub(crate) fn pack(dtype: DType, shape: Vec<usize>, data: Data) -> Tensor {
    Arr { dtype, shape, data }.to_tensor()
}

/// Accumulates `out[i, j] = sum_p a[a0 + i*ars + p*acs] * b[b0 + p*brs + j*bcs]` for an
/// `m x k` by `k x n` product, appending the `m * n` results row by row. Strides let callers
/// read transposed operands in place.
#[allow(clippy::too_many_arguments)]
fn product_block<T: Num>(
    a: &[T],
    a0: usize,
    (ars, acs): (usize, usize),
    b: &[T],
    b0: usize,
    (brs, bcs): (usize, usize),
    (m, k, n): (usize, usize, usize),
    out: &mut Vec<T>,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc = acc.add(a[a0 + i * ars + p * acs].mul(b[b0 + p * brs + j * bcs]));
            }
            out.push(acc);
        }
    }
}

/// NumPy matmul: 1-D operands are promoted to matrices (and the added axis dropped from the
/// result), batch axes broadcast.
fn matmul(at: &At, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let inputs = [Some(a), Some(b)];
    if a.rank() == 0 || b.rank() == 0 {
        return Err(shape_err(
            at,
            &inputs,
            "MatMul operands must have rank >= 1",
        ));
    }
    let arrs = widen_same(at, &inputs, Accept::Numeric)?;
    let a_shape = if a.rank() == 1 {
        vec![1, a.shape()[0]]
    } else {
        a.shape().to_vec()
    };
    let b_shape = if b.rank() == 1 {
        vec![b.shape()[0], 1]
    } else {
        b.shape().to_vec()
    };
    let (a_batch, a_mat) = a_shape.split_at(a_shape.len() - 2);
    let (b_batch, b_mat) = b_shape.split_at(b_shape.len() - 2);
    let (m, k, k2, n) = (a_mat[0], a_mat[1], b_mat[0], b_mat[1]);
    if k != k2 {
        return Err(shape_err(
            at,
            &inputs,
            format!(
                "inner dimensions differ: {k} (last axis of A) vs {k2} (first matrix axis of B)"
            ),
        ));
    }
    let batch = broadcast_shapes(a_batch, b_batch).ok_or_else(|| {
        shape_err(
            at,
            &inputs,
            format!("batch dimensions {a_batch:?} and {b_batch:?} do not broadcast"),
        )
    })?;
    let ia = broadcast_index(a_batch, &batch);
    let ib = broadcast_index(b_batch, &batch);
    let mut out_shape = batch.clone();
    if a.rank() > 1 {
        out_shape.push(m);
    }
    if b.rank() > 1 {
        out_shape.push(n);
    }
    check_output(at, &inputs, &[&batch[..], &[m, n]].concat())?;
    fn run<T: Num>(
        a: &[T],
        b: &[T],
        ia: &[usize],
        ib: &[usize],
        mkn: (usize, usize, usize),
    ) -> Vec<T> {
        let (m, k, n) = mkn;
        let mut out = Vec::with_capacity(ia.len() * m * n);
        for (&pa, &pb) in ia.iter().zip(ib) {
            product_block(a, pa * m * k, (k, 1), b, pb * k * n, (n, 1), mkn, &mut out);
        }
        out
    }
    let data = match slices(at, &arrs)? {
        Slices::F(v) => Data::F(run(v[0], v[1], &ia, &ib, (m, k, n))),
        Slices::I(v) => Data::I(run(v[0], v[1], &ia, &ib, (m, k, n))),
    };
    Ok(pack(a.dtype(), out_shape, data))
}

/// The attributes of Gemm.
#[derive(Clone, Copy, Debug)]
struct GemmAttrs {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

/// `alpha * A' B' + beta * C` with `A'`, `B'` optionally transposed 2-D operands and `C`
/// unidirectionally broadcast to `(M, N)`. With `beta == 0`, `C` is not read (as in the ONNX
/// reference), so NaNs in it do not propagate. Integer dtypes need integral `alpha`/`beta`.
fn gemm(at: &At, inputs: &[Option<&Tensor>], g: GemmAttrs) -> Result<Tensor> {
    let a = need(inputs, 0, at)?;
    let b = need(inputs, 1, at)?;
    let c = inputs.get(2).copied().flatten();
    if a.rank() != 2 || b.rank() != 2 {
        return Err(shape_err(at, inputs, "Gemm needs 2-D A and B"));
    }
    let operands = [Some(a), Some(b), c];
    let arrs = widen_same(at, &operands, Accept::Numeric)?;
    let (m, k) = if g.trans_a {
        (a.shape()[1], a.shape()[0])
    } else {
        (a.shape()[0], a.shape()[1])
    };
    let (k2, n) = if g.trans_b {
        (b.shape()[1], b.shape()[0])
    } else {
        (b.shape()[0], b.shape()[1])
    };
    if k != k2 {
        return Err(shape_err(
            at,
            inputs,
            format!("inner dimensions differ: {k} (A') vs {k2} (B')"),
        ));
    }
    let c_index = match c {
        Some(c) if c.rank() <= 2 && broadcast_shapes(c.shape(), &[m, n]) == Some(vec![m, n]) => {
            Some(broadcast_index(c.shape(), &[m, n]))
        }
        Some(c) => {
            return Err(shape_err(
                at,
                inputs,
                format!("C {:?} does not broadcast to ({m}, {n})", c.shape()),
            ));
        }
        None => None,
    };
    check_output(at, inputs, &[m, n])?;
    // Row/column strides of A' and B' in the stored (possibly transposed) operands.
    let sa = if g.trans_a { (1, m) } else { (k, 1) };
    let sb = if g.trans_b { (1, k) } else { (n, 1) };
    fn run<T: Num>(
        v: &[&[T]],
        g: GemmAttrs,
        strides: ((usize, usize), (usize, usize)),
        mkn: (usize, usize, usize),
        c_index: Option<&[usize]>,
    ) -> Option<Vec<T>> {
        let alpha = T::from_attr(g.alpha)?;
        let beta = T::from_attr(g.beta)?;
        let mut out = Vec::with_capacity(mkn.0 * mkn.2);
        product_block(v[0], 0, strides.0, v[1], 0, strides.1, mkn, &mut out);
        for (i, y) in out.iter_mut().enumerate() {
            *y = y.mul(alpha);
            if let (Some(ci), Some(c)) = (c_index, v.get(2))
                && g.beta != 0.0
            {
                *y = y.add(c[ci[i]].mul(beta));
            }
        }
        Some(out)
    }
    let ci = c_index.as_deref();
    let data = match slices(at, &arrs)? {
        Slices::F(v) => run(&v, g, (sa, sb), (m, k, n), ci).map(Data::F),
        Slices::I(v) => run(&v, g, (sa, sb), (m, k, n), ci).map(Data::I),
    };
    let data = data.ok_or_else(|| {
        let bad = if i128::from_attr(g.alpha).is_none() {
            "alpha"
        } else {
            "beta"
        };
        attr_err(
            at,
            bad,
            format!(
                "alpha = {} and beta = {} must be integers for dtype {}",
                g.alpha,
                g.beta,
                a.dtype()
            ),
        )
    })?;
    Ok(pack(a.dtype(), vec![m, n], data))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use half::f16;

    /// A test location.
    pub(crate) fn at() -> At {
        At {
            node: "n".into(),
            op: "test",
        }
    }

    /// An f32 tensor.
    pub(crate) fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    /// `0, 1, 2, ...` as f32 of `shape`.
    pub(crate) fn iota(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        f(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
    }

    /// Evaluates `op` on present inputs, one output.
    pub(crate) fn run1(op: Op, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
        Ok(eval(&op, &at(), inputs, 1)?.remove(0))
    }

    fn mm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        run1(Op::MatMul {}, &[Some(a), Some(b)])
    }

    #[test]
    fn matmul_vectors() {
        // 1-D x 1-D: dot product, rank 0.
        let y = mm(&f(&[3], &[1., 2., 3.]), &f(&[3], &[4., 5., 6.])).unwrap();
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![32.0]);
        // 1-D x (2, 3, 2): batch of vector-matrix products, shape (2, 2).
        let y = mm(&f(&[3], &[1., 0., -1.]), &iota(&[2, 3, 2])).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-4., -4., -4., -4.]);
        // (2, 3) x 1-D.
        let y = mm(&iota(&[2, 3]), &f(&[3], &[1., 1., 1.])).unwrap();
        assert_eq!(y.shape(), &[2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![3., 12.]);
    }

    #[test]
    fn matmul_batch_broadcast() {
        // (2, 1, 2, 2) x (3, 2, 1) -> (2, 3, 2, 1); numpy-computed.
        let a = iota(&[2, 1, 2, 2]);
        let b = iota(&[3, 2, 1]);
        let y = mm(&a, &b).unwrap();
        assert_eq!(y.shape(), &[2, 3, 2, 1]);
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![1., 3., 3., 13., 5., 23., 5., 7., 23., 33., 41., 59.]
        );
        // Size-1 batch against size 0: empty result.
        let y = mm(&iota(&[1, 2, 2]), &f(&[0, 2, 2], &[])).unwrap();
        assert_eq!(y.shape(), &[0, 2, 2]);
    }

    #[test]
    fn matmul_empty_and_ints() {
        // K = 0: zeros.
        let y = mm(&f(&[2, 0], &[]), &f(&[0, 3], &[])).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0; 6]);
        // M = 0: empty.
        let y = mm(&f(&[0, 2], &[]), &iota(&[2, 3])).unwrap();
        assert_eq!(y.shape(), &[0, 3]);
        // i32 wrap: 2^30 * 2 + 2^30 * 2 = 2^32 -> 0; then -1 * 3.
        let a = Tensor::from_vec(&[2, 2], vec![1i32 << 30, 1 << 30, -1, 0]).unwrap();
        let b = Tensor::from_vec(&[2, 1], vec![2i32, 2]).unwrap();
        assert_eq!(mm(&a, &b).unwrap().to_vec::<i32>().unwrap(), vec![0, -2]);
        // u64: exact product beyond 2^64 wraps.
        let a = Tensor::from_vec(&[1], vec![u64::MAX]).unwrap();
        let b = Tensor::from_vec(&[1], vec![u64::MAX]).unwrap();
        assert_eq!(mm(&a, &b).unwrap().to_vec::<u64>().unwrap(), vec![1]);
    }

    #[test]
    fn matmul_nan_inf_and_f16() {
        let y = mm(&f(&[1, 2], &[f32::NAN, 1.]), &f(&[2, 1], &[1., 1.])).unwrap();
        assert!(y.to_vec::<f32>().unwrap()[0].is_nan());
        let y = mm(&f(&[2], &[f32::INFINITY, 1.]), &f(&[2], &[1., 1.])).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![f32::INFINITY]);
        // f16 accumulates in f64: 2048 + 1 + 1 = 2050 is exact, stepwise f16 sums would give 2048.
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        let a = Tensor::from_vec(&[3], h(&[2048., 1., 1.])).unwrap();
        let b = Tensor::from_vec(&[3], h(&[1., 1., 1.])).unwrap();
        assert_eq!(
            mm(&a, &b).unwrap().to_vec::<f16>().unwrap()[0].to_f32(),
            2050.
        );
    }

    #[test]
    fn matmul_errors() {
        let e = mm(&iota(&[2, 3]), &iota(&[2, 3])).unwrap_err();
        assert!(
            matches!(&e, IrError::InputShape { shapes, .. } if shapes.len() == 2),
            "{e}"
        );
        assert!(matches!(
            mm(&iota(&[2, 2, 2]), &iota(&[3, 2, 2])),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            mm(&Tensor::scalar(1f32), &iota(&[1])),
            Err(IrError::InputShape { .. })
        ));
        let i = Tensor::from_vec(&[2], vec![1i32, 2]).unwrap();
        assert!(matches!(
            mm(&iota(&[2]), &i),
            Err(IrError::InputDType { input: 1, .. })
        ));
        // Empty operands whose product would not be addressable.
        let wide = f(&[1 << 40, 0], &[]);
        let tall = f(&[0, 1 << 40], &[]);
        assert!(matches!(mm(&wide, &tall), Err(IrError::InputShape { .. })));
        let bools = Tensor::from_vec(&[1], vec![true]).unwrap();
        assert!(matches!(
            mm(&bools, &bools),
            Err(IrError::Unsupported { .. })
        ));
    }

    fn gemm_op(alpha: f32, beta: f32, trans_a: bool, trans_b: bool) -> Op {
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        }
    }

    #[test]
    fn gemm_transposes_and_bias() {
        // A = [[0, 1, 2], [3, 4, 5]] stored transposed as (3, 2); B = iota(3, 2) stored
        // transposed as (2, 3); C = [10, 20] broadcast over rows.
        let at_ = f(&[3, 2], &[0., 3., 1., 4., 2., 5.]);
        let bt = f(&[2, 3], &[0., 2., 4., 1., 3., 5.]);
        let c = f(&[2], &[10., 20.]);
        let y = run1(
            gemm_op(2.0, 0.5, true, true),
            &[Some(&at_), Some(&bt), Some(&c)],
        )
        .unwrap();
        // A B = [[10, 13], [28, 40]]; 2 * AB + 0.5 * C.
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![25., 36., 61., 90.]);
        // Column bias (2, 1), no transposes.
        let c = f(&[2, 1], &[1., -1.]);
        let y = run1(
            gemm_op(1.0, 1.0, false, false),
            &[Some(&iota(&[2, 3])), Some(&iota(&[3, 2])), Some(&c)],
        )
        .unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![11., 14., 27., 39.]);
        // Scalar C; beta = 0 ignores a NaN C.
        let nan = Tensor::scalar(f32::NAN);
        let y = run1(
            gemm_op(1.0, 0.0, false, false),
            &[Some(&iota(&[1, 1])), Some(&iota(&[1, 1])), Some(&nan)],
        )
        .unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.]);
        // No C.
        let y = run1(
            gemm_op(1.0, 1.0, false, true),
            &[Some(&iota(&[1, 2])), Some(&iota(&[1, 2])), None],
        )
        .unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.]);
    }

    #[test]
    fn gemm_ints_and_errors() {
        let a = Tensor::from_vec(&[1, 1], vec![i64::MAX]).unwrap();
        let c = Tensor::from_vec(&[1], vec![1i64]).unwrap();
        let y = run1(
            gemm_op(2.0, 3.0, false, false),
            &[
                Some(&a),
                Some(&c.clone().reshaped(&[1, 1]).unwrap()),
                Some(&c),
            ],
        )
        .unwrap();
        // 2 * MAX + 3 wraps to 1.
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![1]);
        assert!(matches!(
            run1(gemm_op(0.5, 1.0, false, false), &[Some(&a), Some(&a), None]),
            Err(IrError::Attribute { attr: "alpha", .. })
        ));
        assert!(matches!(
            run1(
                gemm_op(1.0, 0.25, false, false),
                &[Some(&a), Some(&a), None]
            ),
            Err(IrError::Attribute { attr: "beta", .. })
        ));
        let bad_c = f(&[3], &[0.; 3]);
        assert!(matches!(
            run1(
                gemm_op(1.0, 1.0, false, false),
                &[Some(&iota(&[2, 2])), Some(&iota(&[2, 2])), Some(&bad_c)]
            ),
            Err(IrError::InputShape { .. })
        ));
        // C may not grow the output: (2, 2) C against a (1, 2) result.
        assert!(matches!(
            run1(
                gemm_op(1.0, 1.0, false, false),
                &[
                    Some(&iota(&[1, 2])),
                    Some(&iota(&[2, 2])),
                    Some(&iota(&[2, 2]))
                ]
            ),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            run1(
                gemm_op(1.0, 1.0, false, false),
                &[Some(&iota(&[2, 3])), Some(&iota(&[2, 3])), None]
            ),
            Err(IrError::InputShape { .. })
        ));
        assert!(matches!(
            run1(
                gemm_op(1.0, 1.0, false, false),
                &[Some(&iota(&[3])), Some(&iota(&[3, 1])), None]
            ),
            Err(IrError::InputShape { .. })
        ));
    }
}
