//! The kernel interpreter: runs every invocation of a verified kernel on the host, checking
//! every load and store against its buffer's bounds.
//!
//! Workgroups run one after another (row-major over the grid). Inside a workgroup each
//! invocation runs alone until it reaches a barrier (or finishes); when all have reached the
//! same barrier, the next phase starts. So a missing barrier shows up deterministically: a load
//! of shared memory that no invocation has stored yet is a [`KernelError::Uninitialized`]
//! error, and a load or store of a shared element that another invocation stored in the same
//! phase is a [`KernelError::SharedRace`] (a load before another invocation's store in the
//! same phase is not detected). Invocations that end at different barriers, or some finishing
//! while others wait, are a [`KernelError::BarrierDivergence`].
//!
//! A `let` of `shuffle_xor<m>(x)` stops an invocation like a barrier (without starting a new
//! shared-memory phase): once every invocation of the group has evaluated its `x` there, each
//! receives the `x` of invocation `local_id(0) ^ m`. The exchange is exact and deterministic;
//! the values it combines, and so the rounding of a butterfly reduction, are fixed by the
//! kernel, not by a subgroup size.
//!
//! Values use the graph interpreter's representation ([`Arr`]: f64 for floats, i128 for
//! integers) and its operator semantics (unary, binary, min/max, cast and select are evaluated
//! by [`crate::interp::eval_op`] on one-lane-per-element tensors), so every result is rounded to
//! its dtype (floats, nearest-even) or wrapped (integers) exactly like a graph node's output.

use super::print::print_expr;
use super::{
    BinOp, BufRef, Expr, Kernel, KernelError, KernelInfo, LaneReduce, MmaOperand, MmaShape, Scalar,
    Stmt, VarId,
};
use crate::dtype::DType;
use crate::error::At;
use crate::interp::eval_op;
use crate::interp::rounding::round_to_dtype;
use crate::interp::values::{Arr, Data};
use crate::op::{BinaryOp, Op, VariadicOp};
use crate::tensor::Tensor;

/// Runs a verified kernel over host buffers: one little-endian byte vector per param, in
/// param order, each exactly `len * dtype size` bytes. Only when the whole launch succeeds
/// are the stored elements written back; every other byte stays as it was.
pub fn run_kernel(
    k: &Kernel,
    info: &KernelInfo,
    buffers: &mut [Vec<u8>],
) -> Result<(), KernelError> {
    check_limits(k)?;
    if info.params.len() != k.params.len() || info.var_kinds.len() != k.vars.len() {
        return Err(KernelError::Launch {
            kernel: k.name.clone(),
            message: "the KernelInfo was not made by verifying this kernel".into(),
        });
    }
    if buffers.len() != k.params.len() {
        return Err(KernelError::BufferCount {
            kernel: k.name.clone(),
            expected: k.params.len(),
            actual: buffers.len(),
        });
    }
    let mut params = Vec::with_capacity(k.params.len());
    for (p, bytes) in k.params.iter().zip(buffers.iter()) {
        let size_err = |expected| KernelError::BufferSize {
            kernel: k.name.clone(),
            buffer: p.name.clone(),
            dtype: p.dtype,
            len: p.len,
            expected,
            actual: bytes.len(),
        };
        let t = Tensor::from_bytes(p.dtype, &[p.len], bytes.clone())
            .map_err(|_| size_err(p.len.saturating_mul(p.dtype.size_bytes())))?;
        params.push((Arr::from_tensor(&t), vec![None; p.len]));
    }
    let mut mem = Memory {
        params,
        shared: Vec::new(),
        phase: 0,
    };
    let r = Runner { k };
    for group in coords(&k.launch.grid) {
        r.run_group(&group, &mut mem)?;
    }
    for ((arr, stored), bytes) in mem.params.iter().zip(buffers.iter_mut()) {
        write_back(arr, stored, bytes);
    }
    Ok(())
}

/// Encodes the stored elements of `arr` into `bytes` (which has its dtype's length).
fn write_back(arr: &Arr, stored: &[Option<Stored>], bytes: &mut [u8]) {
    let size = arr.dtype.size_bytes();
    for (j, _) in stored.iter().enumerate().filter(|(_, s)| s.is_some()) {
        let one = arr.gather(vec![1], &[j]).to_tensor();
        if let Some(dst) = bytes.get_mut(j * size..(j + 1) * size) {
            dst.copy_from_slice(one.bytes());
        }
    }
}

/// Every coordinate of a box, row-major (last axis fastest), produced lazily.
struct Coords {
    dims: Vec<usize>,
    next: Option<Vec<usize>>,
}

fn coords(dims: &[usize]) -> Coords {
    Coords {
        dims: dims.to_vec(),
        next: (!dims.contains(&0)).then(|| vec![0; dims.len()]),
    }
}

impl Iterator for Coords {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let mut idx = current.clone();
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < self.dims[a] {
                self.next = Some(idx);
                break;
            }
            idx[a] = 0;
        }
        Some(current)
    }
}

/// The most invocations per workgroup, and bytes of shared memory per workgroup, the
/// interpreter simulates (far above every real target's limits).
const MAX_GROUP_SIZE: usize = 1 << 16;
const MAX_SHARED_BYTES: usize = 1 << 28;

/// Fails when a launch is beyond what the interpreter simulates.
fn check_limits(k: &Kernel) -> Result<(), KernelError> {
    let group = k.launch.group_size();
    let shared = k
        .shared
        .iter()
        .map(|s| s.len.saturating_mul(s.dtype.size_bytes()))
        .fold(0usize, usize::saturating_add);
    let message = if group > MAX_GROUP_SIZE {
        format!("{group} invocations per workgroup; the interpreter runs at most {MAX_GROUP_SIZE}")
    } else if shared > MAX_SHARED_BYTES {
        format!(
            "{shared} bytes of shared memory; the interpreter allows at most {MAX_SHARED_BYTES}"
        )
    } else {
        return Ok(());
    };
    Err(KernelError::Launch {
        kernel: k.name.clone(),
        message,
    })
}

/// Who stored an element last: the barrier phase and the invocation (row-major local index).
#[derive(Clone, Copy)]
struct Stored {
    phase: usize,
    by: usize,
}

/// Buffer contents, each with the last store of every element: params for the whole launch,
/// shared buffers for the current workgroup, whose barrier phase is `phase`.
struct Memory {
    params: Vec<(Arr, Vec<Option<Stored>>)>,
    shared: Vec<(Arr, Vec<Option<Stored>>)>,
    phase: usize,
}

/// A point in an invocation's control flow.
enum Frame<'k> {
    /// The next statement of a block.
    Block(&'k [Stmt], usize),
    /// A loop: its variable, next value, bound, step and body.
    Loop {
        var: VarId,
        dtype: DType,
        next: i128,
        end: i128,
        step: i128,
        body: &'k [Stmt],
    },
}

/// One invocation: its row-major index in the group, coordinates, variables and control stack.
struct Invocation<'k> {
    id: usize,
    group: Vec<usize>,
    local: Vec<usize>,
    env: Vec<Option<Arr>>,
    stack: Vec<Frame<'k>>,
    /// The value this invocation contributes to the `shuffle_xor` it waits at.
    offered: Option<Arr>,
}

/// Why an invocation stopped running.
enum Stop<'k> {
    Finished,
    Barrier(&'k Stmt),
    /// At a `let` of a `shuffle_xor`: the variable and the mask.
    Shuffle(&'k Stmt, VarId, u32),
}

struct Runner<'k> {
    k: &'k Kernel,
}

impl<'k> Runner<'k> {
    fn run_group(&self, group: &[usize], mem: &mut Memory) -> Result<(), KernelError> {
        mem.shared = self
            .k
            .shared
            .iter()
            .map(|s| {
                let data = if s.dtype.is_float() {
                    Data::F(vec![0.0; s.len])
                } else {
                    Data::I(vec![0; s.len])
                };
                let arr = Arr {
                    dtype: s.dtype,
                    shape: vec![s.len],
                    data,
                };
                (arr, vec![None; s.len])
            })
            .collect();
        mem.phase = 0;
        let mut invs: Vec<Invocation<'k>> = coords(&self.k.launch.group)
            .enumerate()
            .map(|(id, local)| Invocation {
                id,
                group: group.to_vec(),
                local,
                env: vec![None; self.k.vars.len()],
                stack: vec![Frame::Block(&self.k.body, 0)],
                offered: None,
            })
            .collect();
        loop {
            let mut barrier: Option<&Stmt> = None;
            let mut shuffle = None;
            let (mut finished, mut waiting) = (0, 0);
            for inv in &mut invs {
                let at = match self.run_until_barrier(inv, mem)? {
                    Stop::Finished => {
                        finished += 1;
                        continue;
                    }
                    Stop::Barrier(b) => b,
                    Stop::Shuffle(b, var, mask) => {
                        shuffle = Some((var, mask));
                        b
                    }
                };
                waiting += 1;
                if barrier.is_some_and(|first| !std::ptr::eq(first, at)) {
                    return Err(self.divergence(group));
                }
                barrier = Some(at);
            }
            match (finished, waiting, shuffle) {
                (_, 0, _) => return Ok(()),
                (0, _, Some((var, mask))) => self.exchange(&mut invs, var, mask, group)?,
                (0, _, None) => mem.phase += 1,
                _ => return Err(self.divergence(group)),
            }
        }
    }

    /// Completes a `shuffle_xor<mask>` that every invocation waits at: each receives the value
    /// offered by invocation `id ^ mask` (the verifier guarantees that it exists).
    fn exchange(
        &self,
        invs: &mut [Invocation<'k>],
        var: VarId,
        mask: u32,
        group: &[usize],
    ) -> Result<(), KernelError> {
        let offered: Vec<Option<Arr>> = invs.iter_mut().map(|i| i.offered.take()).collect();
        for inv in invs.iter_mut() {
            let partner = inv.id ^ mask as usize;
            let Some(Some(v)) = offered.get(partner) else {
                return Err(KernelError::Launch {
                    kernel: self.k.name.clone(),
                    message: format!(
                        "workgroup {group:?}: shuffle_xor<{mask}> of invocation {} has no partner {partner}",
                        inv.id
                    ),
                });
            };
            self.set(inv, var, v.clone())?;
        }
        Ok(())
    }

    fn divergence(&self, group: &[usize]) -> KernelError {
        KernelError::BarrierDivergence {
            kernel: self.k.name.clone(),
            group: group.to_vec(),
        }
    }

    /// Runs one invocation until its next barrier or its end.
    fn run_until_barrier(
        &self,
        inv: &mut Invocation<'k>,
        mem: &mut Memory,
    ) -> Result<Stop<'k>, KernelError> {
        loop {
            let Some(frame) = inv.stack.last_mut() else {
                return Ok(Stop::Finished);
            };
            let stmt = match frame {
                Frame::Block(stmts, pc) => match stmts.get(*pc) {
                    Some(s) => {
                        *pc += 1;
                        s
                    }
                    None => {
                        inv.stack.pop();
                        continue;
                    }
                },
                Frame::Loop {
                    var,
                    dtype,
                    next,
                    end,
                    step,
                    body,
                } => {
                    if *next < *end {
                        let value = Arr::ints(*dtype, vec![1], vec![*next]);
                        *next = next.saturating_add(*step);
                        let (var, body) = (*var, *body);
                        self.set(inv, var, value)?;
                        inv.stack.push(Frame::Block(body, 0));
                    } else {
                        inv.stack.pop();
                    }
                    continue;
                }
            };
            if let Some(stop) = self.exec(stmt, inv, mem)? {
                return Ok(stop);
            }
        }
    }

    fn set(&self, inv: &mut Invocation<'k>, var: VarId, value: Arr) -> Result<(), KernelError> {
        match inv.env.get_mut(var.index()) {
            Some(slot) => {
                *slot = Some(value);
                Ok(())
            }
            None => Err(self.eval_err(&Expr::Var(var), "variable out of the arena")),
        }
    }

    /// Executes one statement; a barrier stops the invocation.
    fn exec(
        &self,
        s: &'k Stmt,
        inv: &mut Invocation<'k>,
        mem: &mut Memory,
    ) -> Result<Option<Stop<'k>>, KernelError> {
        match s {
            Stmt::Let {
                var,
                value: Expr::ShuffleXor { x, mask },
            } => {
                inv.offered = Some(self.eval(x, inv, mem)?);
                return Ok(Some(Stop::Shuffle(s, *var, *mask)));
            }
            Stmt::Let { var, value } | Stmt::Local { var, init: value } => {
                let v = self.eval(value, inv, mem)?;
                self.set(inv, *var, v)?;
            }
            Stmt::Assign { var, value } => {
                let v = self.eval(value, inv, mem)?;
                self.set(inv, *var, v)?;
            }
            Stmt::Store { buf, index, value } => {
                let i = self.eval_index(index, inv, mem)?;
                let v = self.eval(value, inv, mem)?;
                self.store(*buf, i, &v, inv.id, mem, index)?;
            }
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
                ..
            } => {
                let dtype = self
                    .k
                    .vars
                    .get(*var)
                    .map(|v| v.ty.dtype)
                    .unwrap_or(DType::I64);
                let next = self.eval_index(start, inv, mem)?;
                let end = self.eval_index(end, inv, mem)?;
                inv.stack.push(Frame::Loop {
                    var: *var,
                    dtype,
                    next,
                    end,
                    step: i128::from(*step).max(1),
                    body,
                });
            }
            Stmt::If { cond, then, els } => {
                let c = self.eval_index(cond, inv, mem)?;
                inv.stack
                    .push(Frame::Block(if c != 0 { then } else { els }, 0));
            }
            Stmt::Barrier => return Ok(Some(Stop::Barrier(s))),
            Stmt::Mma { shape, acc, a, b } => self.mma(*shape, *acc, [a, b], inv, mem)?,
        }
        Ok(None)
    }

    /// Runs an `mma` for one invocation: its four accumulator elements, each a chain of f32
    /// `fma`s over `k` in order (see the module docs of [`crate::kernel`]).
    fn mma(
        &self,
        shape: MmaShape,
        acc: VarId,
        ops: [&MmaOperand; 2],
        inv: &mut Invocation<'k>,
        mem: &Memory,
    ) -> Result<(), KernelError> {
        let acc_e = Expr::Var(acc);
        let lane = inv.local.first().copied().unwrap_or(0) % MmaShape::WIDTH;
        let kk = shape.k();
        let mut bases = [0i128; 2];
        for (base, op) in bases.iter_mut().zip(ops) {
            *base = self.eval_index(&op.index, inv, mem)?;
            if *base % shape.pair() as i128 != 0 {
                return Err(self.eval_err(
                    &op.index,
                    format!(
                        "an mma {} operand index must be a multiple of {}",
                        shape.name(),
                        shape.pair()
                    ),
                ));
            }
        }
        // The operand elements `[k]` of A row `r` (which 0) or B column `c` (which 1).
        let operand = |which: usize, rc: usize| -> Result<Vec<f32>, KernelError> {
            let op = ops[which];
            let at = bases[which].saturating_add(i128::from(op.stride) * rc as i128);
            let v = self.load(op.buf, at, kk as u8, inv.id, mem, &op.index)?;
            let Data::F(x) = v.data else {
                return Err(self.eval_err(&op.index, "mma operand is not a float buffer"));
            };
            Ok(x.iter()
                .map(|&f| match shape {
                    MmaShape::M16n8k16 => f as f32,
                    MmaShape::M16n8k8Tf32 => tf32_round(f as f32),
                })
                .collect())
        };
        let cur = self.eval(&acc_e, inv, mem)?;
        let Data::F(c) = &cur.data else {
            return Err(self.eval_err(&acc_e, "mma accumulator is not a float vector"));
        };
        let mut out = Vec::with_capacity(4);
        for (q, &c0) in c.iter().enumerate().take(4) {
            let (r, col) = MmaShape::acc_element(lane, q);
            let (x, y) = (operand(0, r)?, operand(1, col)?);
            let d = x
                .iter()
                .zip(&y)
                .fold(c0 as f32, |d, (&p, &q)| p.mul_add(q, d));
            out.push(f64::from(d));
        }
        self.set(inv, acc, Arr::floats(DType::F32, vec![4], out))
    }

    fn eval_err(&self, e: &Expr, message: impl Into<String>) -> KernelError {
        KernelError::Eval {
            kernel: self.k.name.clone(),
            context: print_expr(self.k, e),
            message: message.into(),
        }
    }

    /// Evaluates an integer (or bool) scalar: an index, loop bound or condition.
    fn eval_index(
        &self,
        e: &Expr,
        inv: &Invocation<'k>,
        mem: &Memory,
    ) -> Result<i128, KernelError> {
        let v = self.eval(e, inv, mem)?;
        match &v.data {
            Data::I(x) if x.len() == 1 => Ok(x[0]),
            _ => Err(self.eval_err(e, "expected an integer scalar")),
        }
    }

    /// The buffer's name, dtype and length, or an error naming the expression.
    fn buffer(&self, buf: BufRef, e: &Expr) -> Result<(&'k str, usize), KernelError> {
        match self.k.buffer(buf) {
            Some((name, _, len)) => Ok((name, len)),
            None => Err(self.eval_err(e, "no such buffer")),
        }
    }

    /// The first element of an in-bounds access of `lanes` elements at `index`.
    fn check_bounds(
        &self,
        buf: BufRef,
        index: i128,
        lanes: usize,
        e: &Expr,
    ) -> Result<usize, KernelError> {
        let (name, len) = self.buffer(buf, e)?;
        let end = index.saturating_add(lanes as i128);
        if index < 0 || end > len as i128 {
            return Err(KernelError::OutOfBounds {
                kernel: self.k.name.clone(),
                buffer: name.to_string(),
                index,
                lanes: u8::try_from(lanes).unwrap_or(u8::MAX),
                len,
            });
        }
        Ok(index as usize)
    }

    /// Checks a shared-memory access of elements `range` by invocation `by` against the last
    /// stores: an unstored element (loads only) or one another invocation stored in this phase.
    fn check_shared(
        &self,
        buf: BufRef,
        stored: &[Option<Stored>],
        range: std::ops::Range<usize>,
        (by, phase, load): (usize, usize, bool),
        e: &Expr,
    ) -> Result<(), KernelError> {
        if !matches!(buf, BufRef::Shared(_)) {
            return Ok(());
        }
        for j in range {
            let race = match stored.get(j).copied().flatten() {
                None if load => {
                    return Err(KernelError::Uninitialized {
                        kernel: self.k.name.clone(),
                        buffer: self.buffer(buf, e)?.0.to_string(),
                        index: j,
                    });
                }
                Some(s) if s.phase == phase && s.by != by => s.by,
                _ => continue,
            };
            return Err(KernelError::SharedRace {
                kernel: self.k.name.clone(),
                buffer: self.buffer(buf, e)?.0.to_string(),
                index: j,
                stored_by: race,
                then: by,
                action: if load { "loaded" } else { "stored" },
            });
        }
        Ok(())
    }

    fn load(
        &self,
        buf: BufRef,
        index: i128,
        lanes: u8,
        reader: usize,
        mem: &Memory,
        e: &Expr,
    ) -> Result<Arr, KernelError> {
        let n = usize::from(lanes);
        let first = self.check_bounds(buf, index, n, e)?;
        let slot = match buf {
            BufRef::Param(i) => mem.params.get(i),
            BufRef::Shared(i) => mem.shared.get(i),
        };
        let (arr, stored) = slot.ok_or_else(|| self.eval_err(e, "no such buffer"))?;
        self.check_shared(buf, stored, first..first + n, (reader, mem.phase, true), e)?;
        let idx: Vec<usize> = (first..first + n).collect();
        Ok(Arr {
            dtype: arr.dtype,
            shape: vec![n],
            data: arr.data.gather(&idx),
        })
    }

    fn store(
        &self,
        buf: BufRef,
        index: i128,
        value: &Arr,
        writer: usize,
        mem: &mut Memory,
        e: &Expr,
    ) -> Result<(), KernelError> {
        let n = value.len();
        let first = self.check_bounds(buf, index, n, e)?;
        let phase = mem.phase;
        let slot = match buf {
            BufRef::Param(i) => mem.params.get_mut(i),
            BufRef::Shared(i) => mem.shared.get_mut(i),
        };
        let (arr, stored) = slot.ok_or_else(|| self.eval_err(e, "no such buffer"))?;
        self.check_shared(buf, stored, first..first + n, (writer, phase, false), e)?;
        match (&mut arr.data, &value.data) {
            (Data::F(dst), Data::F(src)) => dst[first..first + n].copy_from_slice(src),
            (Data::I(dst), Data::I(src)) => dst[first..first + n].copy_from_slice(src),
            _ => return Err(self.eval_err(e, "stored value has another dtype than the buffer")),
        }
        let mark = Some(Stored { phase, by: writer });
        stored[first..first + n].iter_mut().for_each(|s| *s = mark);
        Ok(())
    }

    /// Evaluates an expression for one invocation.
    fn eval(&self, e: &Expr, inv: &Invocation<'k>, mem: &Memory) -> Result<Arr, KernelError> {
        let ev = |x: &Expr| self.eval(x, inv, mem);
        Ok(match e {
            Expr::Const { ty, value } => constant(ty.dtype, *value, usize::from(ty.lanes)),
            Expr::Var(v) => inv
                .env
                .get(v.index())
                .cloned()
                .flatten()
                .ok_or_else(|| self.eval_err(e, "variable read before it is set"))?,
            Expr::GroupId(a) | Expr::LocalId(a) => {
                let ids = if matches!(e, Expr::GroupId(_)) {
                    &inv.group
                } else {
                    &inv.local
                };
                let id = ids.get(usize::from(*a)).copied().unwrap_or(0);
                Arr::ints(DType::U32, vec![1], vec![id as i128])
            }
            Expr::Load { buf, index, lanes } => {
                let i = self.eval_index(index, inv, mem)?;
                self.load(*buf, i, *lanes, inv.id, mem, e)?
            }
            Expr::Unary { op, x } => self.graph_op(Op::Unary(*op), &[&ev(x)?], e)?,
            Expr::Binary { op, a, b } => self.binary(*op, &ev(a)?, &ev(b)?, e)?,
            Expr::Fma { a, b, c } => fma(&ev(a)?, &ev(b)?, &ev(c)?)
                .ok_or_else(|| self.eval_err(e, "fma needs float operands of one type"))?,
            Expr::Select { cond, a, b } => {
                self.graph_op(Op::Where {}, &[&ev(cond)?, &ev(a)?, &ev(b)?], e)?
            }
            Expr::Cast { to, x } => self.graph_op(
                Op::Cast {
                    to: *to,
                    saturate: true,
                },
                &[&ev(x)?],
                e,
            )?,
            Expr::Splat { x, lanes } => {
                let v = ev(x)?;
                if v.is_empty() {
                    return Err(self.eval_err(e, "splat of an empty value"));
                }
                v.gather(vec![usize::from(*lanes)], &vec![0; usize::from(*lanes)])
            }
            Expr::Lane { x, lane } => {
                let v = ev(x)?;
                let l = usize::from(*lane);
                if l >= v.len() {
                    return Err(self.eval_err(e, "lane out of range"));
                }
                v.gather(vec![1], &[l])
            }
            Expr::ReduceLanes { op, x } => self.reduce_lanes(*op, &ev(x)?, e)?,
            Expr::ShuffleXor { .. } => {
                return Err(self.eval_err(e, "shuffle_xor outside a `let`"));
            }
        })
    }

    /// Applies a binary operator lane-wise; integer division by zero is a typed error.
    fn binary(&self, op: BinOp, a: &Arr, b: &Arr, e: &Expr) -> Result<Arr, KernelError> {
        let graph = match op {
            BinOp::Min => Op::Variadic(VariadicOp::Min),
            BinOp::Max => Op::Variadic(VariadicOp::Max),
            BinOp::Op(bop) => {
                let divides = matches!(bop, BinaryOp::Div | BinaryOp::Mod | BinaryOp::FMod);
                if divides
                    && let Data::I(v) = &b.data
                    && v.contains(&0)
                {
                    return Err(KernelError::DivisionByZero {
                        kernel: self.k.name.clone(),
                        op: bop.name(),
                        dtype: b.dtype,
                        context: print_expr(self.k, e),
                    });
                }
                Op::Binary(bop)
            }
        };
        self.graph_op(graph, &[a, b], e)
    }

    /// Combines the lanes of a vector in lane order, rounding after every step.
    fn reduce_lanes(&self, op: LaneReduce, x: &Arr, e: &Expr) -> Result<Arr, KernelError> {
        let bop = match op {
            LaneReduce::Add => BinOp::Op(BinaryOp::Add),
            LaneReduce::Mul => BinOp::Op(BinaryOp::Mul),
            LaneReduce::Min => BinOp::Min,
            LaneReduce::Max => BinOp::Max,
        };
        if x.is_empty() {
            return Err(self.eval_err(e, "lane reduction of an empty value"));
        }
        let mut acc = x.gather(vec![1], &[0]);
        for l in 1..x.len() {
            acc = self.binary(bop, &acc, &x.gather(vec![1], &[l]), e)?;
        }
        Ok(acc)
    }

    /// Evaluates a graph operator on one-dimensional operands (the graph interpreter's
    /// semantics, rounding and wrapping included).
    fn graph_op(&self, op: Op, inputs: &[&Arr], e: &Expr) -> Result<Arr, KernelError> {
        let tensors: Vec<Tensor> = inputs.iter().map(|a| a.to_tensor()).collect();
        let refs: Vec<Option<&Tensor>> = tensors.iter().map(Some).collect();
        let at = At {
            node: format!("@{}", self.k.name),
            op: op.name(),
        };
        let out = eval_op(&op, &at, &refs, 1).map_err(|err| self.eval_err(e, err.to_string()))?;
        match out.first() {
            Some(t) => Ok(Arr::from_tensor(t)),
            None => Err(self.eval_err(e, "the operator returned no result")),
        }
    }
}

/// `x` rounded to tf32 (10 mantissa bits; nearest, ties away from zero, like PTX
/// `cvt.rna.tf32.f32`) and held in an f32. NaN and infinities stay as they are.
pub fn tf32_round(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    f32::from_bits(x.to_bits().wrapping_add(0x1000) & 0xFFFF_E000)
}

/// A constant of `lanes` lanes, rounded to its dtype.
fn constant(dtype: DType, value: Scalar, lanes: usize) -> Arr {
    match value {
        Scalar::Float(f) => Arr::floats(dtype, vec![lanes], vec![round_to_dtype(f, dtype); lanes]),
        Scalar::Int(i) => Arr::ints(dtype, vec![lanes], vec![i; lanes]),
        Scalar::Bool(b) => Arr::ints(dtype, vec![lanes], vec![i128::from(b); lanes]),
    }
}

/// `a * b + c` lane-wise with one rounding to the dtype: f32 and f64 with their own fused
/// multiply-add (what FMA instructions, WGSL `fma` and PTX `fma.rn` compute); f16/bf16 in f64
/// (the product of two such values is exact in f64), then rounded to the dtype. `None` unless
/// all three are float vectors of one length.
fn fma(a: &Arr, b: &Arr, c: &Arr) -> Option<Arr> {
    let (Data::F(x), Data::F(y), Data::F(z)) = (&a.data, &b.data, &c.data) else {
        return None;
    };
    if x.len() != y.len() || x.len() != z.len() {
        return None;
    }
    let v = x
        .iter()
        .zip(y)
        .zip(z)
        .map(|((p, q), r)| {
            if a.dtype == DType::F32 {
                f64::from((*p as f32).mul_add(*q as f32, *r as f32))
            } else {
                round_to_dtype(p.mul_add(*q, *r), a.dtype)
            }
        })
        .collect();
    Some(Arr::floats(a.dtype, vec![x.len()], v))
}
