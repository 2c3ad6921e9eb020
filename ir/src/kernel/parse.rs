//! The kernel IR's text parser: reads what [`super::print_kernel`] writes, with errors at
//! line:column. Names resolve in text order (a use must follow its definition); scoping,
//! single assignment and types are left to [`super::verify_kernel`].

use super::{
    Access, BinOp, BufRef, Expr, Kernel, LaneReduce, Launch, LoopKind, Param, Scalar, SharedBuf,
    Stmt, Ty, VarId, VarInfo,
};
use crate::arena::Arena;
use crate::dtype::DType;
use crate::error::ParseError;
use crate::op::UnaryOp;
use std::collections::HashMap;

/// A token of the text form.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A keyword, operator name, dtype or type (`f32x4`).
    Ident(String),
    /// `%name`.
    Local(String),
    /// `@name`.
    Global(String),
    /// A numeric literal, possibly signed (`-1.5e3`, `-inf`).
    Num(String),
    /// One of `( ) [ ] { } , : = < >`.
    Punct(char),
    /// End of input.
    Eof,
}

/// A token and where it starts.
#[derive(Clone, Debug)]
struct Spanned {
    tok: Tok,
    line: usize,
    col: usize,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Splits text into tokens; `;` comments run to the end of the line.
fn lex(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut col) = (0, 1, 1);
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let (l0, c0) = (line, col);
        let start = i;
        let tok = if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        } else if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        } else if c == ';' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '%' || c == '@' {
            i += 1;
            while i < chars.len() && name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start + 1..i].iter().collect();
            if name.is_empty() {
                return Err(perr(l0, c0, format!("expected a name after `{c}`")));
            }
            if c == '%' {
                Tok::Local(name)
            } else {
                Tok::Global(name)
            }
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| name_char(*d)))
        {
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                let exp_sign = (d == '-' || d == '+') && matches!(chars[i - 1], 'e' | 'E');
                if name_char(d) || exp_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Tok::Num(chars[start..i].iter().collect())
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && name_char(chars[i]) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if "()[]{},:=<>".contains(c) {
            i += 1;
            Tok::Punct(c)
        } else {
            return Err(perr(l0, c0, format!("unexpected character `{c}`")));
        };
        col += i - start;
        out.push(Spanned {
            tok,
            line: l0,
            col: c0,
        });
    }
    out.push(Spanned {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

fn perr(line: usize, col: usize, message: String) -> ParseError {
    ParseError { line, col, message }
}

/// What a `%name` refers to.
#[derive(Clone, Copy)]
enum Binding {
    Buf(BufRef),
    Var(VarId),
}

/// The deepest nesting of expressions plus blocks the parser accepts (so that hostile input
/// cannot overflow the stack of the parser, the verifier or the interpreter).
const MAX_DEPTH: usize = 200;

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    depth: usize,
    names: HashMap<String, Binding>,
    vars: Arena<VarInfo>,
}

/// Parses a kernel from its text form.
pub fn parse_kernel(text: &str) -> Result<Kernel, ParseError> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
        depth: 0,
        names: HashMap::new(),
        vars: Arena::new(),
    };
    let k = p.kernel()?;
    p.expect_eof()?;
    Ok(k)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn here(&self) -> (usize, usize) {
        let t = &self.toks[self.pos.min(self.toks.len() - 1)];
        (t.line, t.col)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        let (line, col) = self.here();
        Err(perr(line, col, message.into()))
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// Steps back one token, to report an error at the token just read.
    fn back(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Local(s) => format!("`%{s}`"),
            Tok::Global(s) => format!("`@{s}`"),
            Tok::Num(s) => format!("number `{s}`"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of input".into(),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), ParseError> {
        if *self.peek() == Tok::Punct(c) {
            self.next();
            Ok(())
        } else {
            self.err(format!(
                "expected `{c}`, found {}",
                Self::describe(self.peek())
            ))
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let hit = *self.peek() == Tok::Punct(c);
        if hit {
            self.next();
        }
        hit
    }

    fn keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Ident(s) if s == kw => {
                self.next();
                Ok(())
            }
            t => self.err(format!("expected `{kw}`, found {}", Self::describe(t))),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            t => self.err(format!("expected {what}, found {}", Self::describe(&t))),
        }
    }

    fn local_name(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Local(s) => {
                self.next();
                Ok(s)
            }
            t => self.err(format!("expected a `%name`, found {}", Self::describe(&t))),
        }
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Eof => Ok(()),
            t => self.err(format!(
                "expected end of input, found {}",
                Self::describe(t)
            )),
        }
    }

    /// A non-negative integer literal.
    fn uint<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ParseError> {
        match self.peek().clone() {
            Tok::Num(s) => match s.parse::<T>() {
                Ok(v) => {
                    self.next();
                    Ok(v)
                }
                Err(_) => self.err(format!("{what} `{s}` is not a valid count")),
            },
            t => self.err(format!("expected {what}, found {}", Self::describe(&t))),
        }
    }

    fn dtype(&mut self) -> Result<DType, ParseError> {
        let s = self.ident("a dtype")?;
        match s.parse::<DType>() {
            Ok(d) => Ok(d),
            Err(e) => {
                self.back();
                self.err(e.to_string())
            }
        }
    }

    /// `f32` or `f32x4`.
    fn ty(&mut self) -> Result<Ty, ParseError> {
        let s = self.ident("a type")?;
        if let Ok(d) = s.parse::<DType>() {
            return Ok(Ty::scalar(d));
        }
        let parsed = s.rsplit_once('x').and_then(|(d, n)| {
            let dtype = d.parse::<DType>().ok()?;
            let lanes = n.parse::<u8>().ok()?;
            Some(Ty::vector(dtype, lanes))
        });
        match parsed {
            Some(t) => Ok(t),
            None => {
                self.back();
                self.err(format!(
                    "`{s}` is not a type (a dtype such as f32, or a vector such as f32x4)"
                ))
            }
        }
    }

    fn dims(&mut self) -> Result<Vec<usize>, ParseError> {
        self.punct('[')?;
        let mut out = Vec::new();
        while !self.eat_punct(']') {
            if !out.is_empty() {
                self.punct(',')?;
            }
            out.push(self.uint("a size")?);
        }
        Ok(out)
    }

    /// Binds a new buffer name, read at `at`.
    fn bind(&mut self, name: &str, b: Binding, at: (usize, usize)) -> Result<(), ParseError> {
        if self.names.insert(name.to_string(), b).is_some() {
            return Err(perr(at.0, at.1, format!("`%{name}` is already defined")));
        }
        Ok(())
    }

    fn kernel(&mut self) -> Result<Kernel, ParseError> {
        self.keyword("kernel")?;
        let name = match self.next() {
            Tok::Global(s) => s,
            t => {
                self.back();
                return self.err(format!("expected `@name`, found {}", Self::describe(&t)));
            }
        };
        self.punct('(')?;
        let mut params = Vec::new();
        while !self.eat_punct(')') {
            if !params.is_empty() {
                self.punct(',')?;
            }
            params.push(self.param(params.len())?);
        }
        self.keyword("grid")?;
        let grid = self.dims()?;
        self.keyword("group")?;
        let group = self.dims()?;
        self.punct('{')?;
        let mut shared = Vec::new();
        while *self.peek() == Tok::Ident("shared".into()) {
            self.next();
            let at = self.here();
            let n = self.local_name()?;
            self.bind(&n, Binding::Buf(BufRef::Shared(shared.len())), at)?;
            self.punct(':')?;
            let dtype = self.dtype()?;
            self.punct('[')?;
            let len = self.uint("a length")?;
            self.punct(']')?;
            shared.push(SharedBuf {
                name: n,
                dtype,
                len,
            });
        }
        let body = self.block_rest()?;
        Ok(Kernel {
            name,
            params,
            shared,
            launch: Launch { grid, group },
            body,
            vars: std::mem::take(&mut self.vars),
        })
    }

    fn param(&mut self, index: usize) -> Result<Param, ParseError> {
        let at = self.here();
        let name = self.local_name()?;
        self.bind(&name, Binding::Buf(BufRef::Param(index)), at)?;
        self.punct(':')?;
        let dtype = self.dtype()?;
        self.punct('[')?;
        let len = self.uint("a length")?;
        self.punct(']')?;
        let access = match self.ident("an access mode")?.as_str() {
            "read" => Access::Read,
            "write" => Access::Write,
            "read_write" => Access::ReadWrite,
            other => {
                self.back();
                return self.err(format!(
                    "unknown access `{other}` (expected read, write or read_write)"
                ));
            }
        };
        Ok(Param {
            name,
            dtype,
            len,
            access,
        })
    }

    /// Statements up to and including the closing `}`.
    fn block_rest(&mut self) -> Result<Vec<Stmt>, ParseError> {
        let mut out = Vec::new();
        while !self.eat_punct('}') {
            out.push(self.stmt()?);
        }
        Ok(out)
    }

    fn block(&mut self) -> Result<Vec<Stmt>, ParseError> {
        self.punct('{')?;
        self.nested(Self::block_rest)
    }

    /// Runs `f` one nesting level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Defines (or, for a repeated definition, re-uses) a variable; the verifier reports
    /// repeated definitions.
    fn define_var(&mut self) -> Result<VarId, ParseError> {
        let (line, col) = self.here();
        let name = self.local_name()?;
        self.punct(':')?;
        let ty = self.ty()?;
        match self.names.get(&name) {
            Some(Binding::Var(v)) if self.vars[*v].ty == ty => Ok(*v),
            Some(_) => Err(perr(line, col, format!("`%{name}` is already defined"))),
            None => {
                let v = self.vars.push(VarInfo {
                    name: name.clone(),
                    ty,
                });
                self.names.insert(name, Binding::Var(v));
                Ok(v)
            }
        }
    }

    fn lookup(&mut self) -> Result<Binding, ParseError> {
        let name = self.local_name()?;
        match self.names.get(&name) {
            Some(b) => Ok(*b),
            None => {
                self.back();
                self.err(format!("unknown name `%{name}`"))
            }
        }
    }

    fn lookup_buf(&mut self) -> Result<BufRef, ParseError> {
        match self.lookup()? {
            Binding::Buf(b) => Ok(b),
            Binding::Var(_) => {
                self.back();
                self.err("expected a buffer, found a variable")
            }
        }
    }

    fn lookup_var(&mut self) -> Result<VarId, ParseError> {
        match self.lookup()? {
            Binding::Var(v) => Ok(v),
            Binding::Buf(_) => {
                self.back();
                self.err("expected a variable, found a buffer (read it with `load`)")
            }
        }
    }

    fn stmt(&mut self) -> Result<Stmt, ParseError> {
        let kw = self.ident("a statement")?;
        Ok(match kw.as_str() {
            "let" | "local" => {
                let var = self.define_var()?;
                self.punct('=')?;
                let value = self.expr()?;
                if kw == "let" {
                    Stmt::Let { var, value }
                } else {
                    Stmt::Local { var, init: value }
                }
            }
            "set" => {
                let var = self.lookup_var()?;
                self.punct('=')?;
                Stmt::Assign {
                    var,
                    value: self.expr()?,
                }
            }
            "store" => {
                let buf = self.lookup_buf()?;
                self.punct('[')?;
                let index = self.expr()?;
                self.punct(']')?;
                self.punct('=')?;
                Stmt::Store {
                    buf,
                    index,
                    value: self.expr()?,
                }
            }
            "loop" => self.loop_stmt()?,
            "if" => {
                let cond = self.expr()?;
                let then = self.block()?;
                let els = if *self.peek() == Tok::Ident("else".into()) {
                    self.next();
                    self.block()?
                } else {
                    Vec::new()
                };
                Stmt::If { cond, then, els }
            }
            "barrier" => Stmt::Barrier,
            "mma" => self.mma_stmt()?,
            other => {
                self.back();
                return self.err(format!(
                    "unknown statement `{other}` (expected let, local, set, store, loop, if, barrier or mma)"
                ));
            }
        })
    }

    /// `mma SHAPE %acc, %a[i] stride sa, %b[j] stride sb` (after `mma`).
    fn mma_stmt(&mut self) -> Result<Stmt, ParseError> {
        let name = self.ident("an mma shape")?;
        let Some(shape) = super::MmaShape::parse(&name) else {
            self.back();
            return self.err(format!(
                "unknown mma shape `{name}` (expected m16n8k16 or m16n8k8.tf32)"
            ));
        };
        let acc = self.lookup_var()?;
        self.punct(',')?;
        let a = self.mma_operand()?;
        self.punct(',')?;
        let b = self.mma_operand()?;
        Ok(Stmt::Mma { shape, acc, a, b })
    }

    /// `%buf[index] stride n`.
    fn mma_operand(&mut self) -> Result<super::MmaOperand, ParseError> {
        let buf = self.lookup_buf()?;
        self.punct('[')?;
        let index = self.expr()?;
        self.punct(']')?;
        self.keyword("stride")?;
        let stride = self.uint("a stride")?;
        Ok(super::MmaOperand { buf, index, stride })
    }

    fn loop_stmt(&mut self) -> Result<Stmt, ParseError> {
        // The bounds are parsed before the variable is bound, so they cannot name it.
        let (line, col) = self.here();
        let name = self.local_name()?;
        self.punct(':')?;
        let ty = self.ty()?;
        self.punct('=')?;
        let start = self.expr()?;
        self.keyword("to")?;
        let end = self.expr()?;
        self.keyword("step")?;
        let step = self.uint("a step")?;
        let kind = match self.ident("a loop kind")?.as_str() {
            "serial" => LoopKind::Serial,
            "unroll" => LoopKind::Unroll,
            "parallel" => LoopKind::Parallel,
            "vectorize" => {
                self.punct('(')?;
                let n = self.uint("a lane count")?;
                self.punct(')')?;
                LoopKind::Vectorize(n)
            }
            other => {
                self.back();
                return self.err(format!(
                    "unknown loop kind `{other}` (expected serial, unroll, vectorize(n) or parallel)"
                ));
            }
        };
        let var = match self.names.get(&name) {
            Some(Binding::Var(v)) if self.vars[*v].ty == ty => *v,
            Some(_) => return Err(perr(line, col, format!("`%{name}` is already defined"))),
            None => {
                let v = self.vars.push(VarInfo {
                    name: name.clone(),
                    ty,
                });
                self.names.insert(name, Binding::Var(v));
                v
            }
        };
        let body = self.block()?;
        Ok(Stmt::Loop {
            var,
            start,
            end,
            step,
            kind,
            body,
        })
    }

    /// `(e1, e2, ...)` with exactly `N` operands.
    fn args<const N: usize>(&mut self) -> Result<[Box<Expr>; N], ParseError> {
        self.punct('(')?;
        let mut out = Vec::with_capacity(N);
        for i in 0..N {
            if i > 0 {
                self.punct(',')?;
            }
            out.push(Box::new(self.expr()?));
        }
        self.punct(')')?;
        match out.try_into() {
            Ok(a) => Ok(a),
            Err(_) => self.err(format!("expected {N} operands")),
        }
    }

    fn arg1(&mut self) -> Result<Box<Expr>, ParseError> {
        let [x] = self.args::<1>()?;
        Ok(x)
    }

    /// `<n>` after an operator name.
    fn immediate<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ParseError> {
        self.punct('<')?;
        let v = self.uint(what)?;
        self.punct('>')?;
        Ok(v)
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.nested(Self::expr_inner)
    }

    fn expr_inner(&mut self) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            Tok::Local(_) => Ok(Expr::Var(self.lookup_var()?)),
            Tok::Num(s) => {
                self.next();
                self.constant(&s)
            }
            Tok::Ident(s)
                if matches!(s.as_str(), "true" | "false" | "inf" | "nan")
                    && self.toks.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::Punct(':')) =>
            {
                self.next();
                self.constant(&s)
            }
            Tok::Ident(s) => {
                self.next();
                self.call(&s)
            }
            t => self.err(format!(
                "expected an expression, found {}",
                Self::describe(&t)
            )),
        }
    }

    /// The rest of a constant after its value text: `:type`.
    fn constant(&mut self, text: &str) -> Result<Expr, ParseError> {
        let value_pos = self.pos - 1;
        self.punct(':')?;
        let ty = self.ty()?;
        let value = if ty.dtype == DType::Bool {
            match text {
                "true" => Some(Scalar::Bool(true)),
                "false" => Some(Scalar::Bool(false)),
                _ => None,
            }
        } else if ty.dtype.is_float() {
            text.parse::<f64>().ok().map(Scalar::Float)
        } else {
            text.parse::<i128>().ok().map(Scalar::Int)
        };
        match value {
            Some(value) => Ok(Expr::Const { ty, value }),
            None => {
                self.pos = value_pos;
                self.err(format!("`{text}` is not a {} value", ty.dtype))
            }
        }
    }

    fn call(&mut self, name: &str) -> Result<Expr, ParseError> {
        Ok(match name {
            "group_id" | "local_id" => {
                self.punct('(')?;
                let axis = self.uint("an axis")?;
                self.punct(')')?;
                if name == "group_id" {
                    Expr::GroupId(axis)
                } else {
                    Expr::LocalId(axis)
                }
            }
            "load" => {
                let lanes = if *self.peek() == Tok::Punct('<') {
                    self.immediate("a lane count")?
                } else {
                    1
                };
                let buf = self.lookup_buf()?;
                self.punct('[')?;
                let index = Box::new(self.expr()?);
                self.punct(']')?;
                Expr::Load { buf, index, lanes }
            }
            "fma" => {
                let [a, b, c] = self.args::<3>()?;
                Expr::Fma { a, b, c }
            }
            "select" => {
                let [cond, a, b] = self.args::<3>()?;
                Expr::Select { cond, a, b }
            }
            "cast" => {
                self.punct('<')?;
                let to = self.dtype()?;
                self.punct('>')?;
                Expr::Cast {
                    to,
                    x: self.arg1()?,
                }
            }
            "splat" => {
                let lanes = self.immediate("a lane count")?;
                Expr::Splat {
                    x: self.arg1()?,
                    lanes,
                }
            }
            "shuffle_xor" => {
                let mask = self.immediate("a shuffle mask")?;
                Expr::ShuffleXor {
                    x: self.arg1()?,
                    mask,
                }
            }
            "lane" => {
                let lane = self.immediate("a lane index")?;
                Expr::Lane {
                    x: self.arg1()?,
                    lane,
                }
            }
            _ => return self.op_call(name),
        })
    }

    fn op_call(&mut self, name: &str) -> Result<Expr, ParseError> {
        if let Some(op) = LaneReduce::ALL.iter().find(|r| r.name() == name) {
            return Ok(Expr::ReduceLanes {
                op: *op,
                x: self.arg1()?,
            });
        }
        if let Some(op) = UnaryOp::ALL.iter().find(|u| u.name() == name) {
            return Ok(Expr::Unary {
                op: *op,
                x: self.arg1()?,
            });
        }
        if let Some(op) = BinOp::parse(name) {
            let [a, b] = self.args::<2>()?;
            return Ok(Expr::Binary { op, a, b });
        }
        self.back();
        self.err(format!("unknown operator `{name}`"))
    }
}
