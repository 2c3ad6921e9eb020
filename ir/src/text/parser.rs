//! The parser of the text form: a recursive-descent reader over the lexer's tokens that builds
//! a [`Graph`] directly, reporting every problem at the line:column of the offending token.

use super::lexer::{Tok, Token, tokenize};
use super::literal::{Lit, push_element};
use super::printer::fmt_type;
use crate::attr::Attr;
use crate::dtype::DType;
use crate::error::ParseError;
use crate::graph::{Graph, TensorType, ValueId};
use crate::op::{AttrError, Op};
use crate::shape::{Dim, Shape, checked_product};
use crate::tensor::Tensor;
use std::collections::HashMap;

type PResult<T> = Result<T, ParseError>;

/// Parses the text form into a graph (see the module docs for the grammar).
pub(crate) fn parse(text: &str) -> PResult<Graph> {
    let mut p = Parser {
        toks: tokenize(text),
        pos: 0,
        graph: Graph::new(""),
        scope: HashMap::new(),
    };
    p.graph_def()?;
    Ok(p.graph)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    graph: Graph,
    /// Values defined so far, by name.
    scope: HashMap<String, ValueId>,
}

/// A value name as written, with its position.
struct NameAt {
    name: String,
    tok: usize,
}

impl Parser {
    // ----- token access -----

    fn tok_at(&self, i: usize) -> &Token {
        // The lexer always ends with Eof or Error; never read past it.
        let last = self.toks.len().saturating_sub(1);
        &self.toks[i.min(last)]
    }

    fn peek(&self) -> &Tok {
        &self.tok_at(self.pos).tok
    }

    fn peek2(&self) -> &Tok {
        &self.tok_at(self.pos + 1).tok
    }

    fn bump(&mut self) -> usize {
        let i = self.pos;
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        i
    }

    fn err_at(&self, tok: usize, message: impl Into<String>) -> ParseError {
        let t = self.tok_at(tok);
        let message = match &t.tok {
            Tok::Error(m) => m.clone(),
            _ => message.into(),
        };
        ParseError {
            line: t.line,
            col: t.col,
            message,
        }
    }

    /// "expected X, found Y" at the current token.
    fn expected(&self, what: &str) -> ParseError {
        self.err_at(
            self.pos,
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> PResult<usize> {
        if self.peek() == t {
            Ok(self.bump())
        } else {
            Err(self.expected(what))
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Tok::Word(x) if x == w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn word(&mut self, what: &str) -> PResult<(String, usize)> {
        match self.peek().clone() {
            Tok::Word(w) => Ok((w, self.bump())),
            _ => Err(self.expected(what)),
        }
    }

    /// Moves the bytes out of the current `hex"..."` token (no copy of a large constant).
    fn take_hex(&mut self) -> Vec<u8> {
        let i = self.bump();
        match self.toks.get_mut(i).map(|t| &mut t.tok) {
            Some(Tok::Hex(bytes)) => std::mem::take(bytes),
            _ => Vec::new(),
        }
    }

    fn value_name(&mut self, what: &str) -> PResult<NameAt> {
        match self.peek().clone() {
            Tok::Value(name) => Ok(NameAt {
                name,
                tok: self.bump(),
            }),
            _ => Err(self.expected(what)),
        }
    }

    // ----- graph structure -----

    fn graph_def(&mut self) -> PResult<()> {
        if !self.eat_word("graph") {
            return Err(self.expected("`graph`"));
        }
        self.graph.name = match self.peek().clone() {
            Tok::Word(w) => w,
            Tok::Str(s) => s,
            _ => return Err(self.expected("the graph's name")),
        };
        self.bump();
        self.expect(&Tok::LParen, "`(`")?;
        if !self.eat(&Tok::RParen) {
            loop {
                self.param()?;
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `)` after a graph input")?;
            }
        }
        let declared = if self.eat(&Tok::Arrow) {
            self.expect(&Tok::LParen, "`(` before the output names")?;
            let names = self.name_list(&Tok::RParen, "an output name like `%y`")?;
            self.expect(&Tok::RParen, "`,` or `)` after an output name")?;
            Some(names)
        } else {
            None
        };
        self.expect(&Tok::LBrace, "`{` to start the graph body")?;
        loop {
            if self.eat_word("return") {
                break;
            }
            match self.peek() {
                Tok::Value(_) => self.statement()?,
                Tok::Word(_) => self.node(Vec::new())?,
                Tok::RBrace => {
                    return Err(self.err_at(
                        self.pos,
                        "missing `return` before the end of the graph body",
                    ));
                }
                _ => return Err(self.expected("a statement (`%v = ...`) or `return`")),
            }
        }
        let returned = self.name_list(&Tok::RBrace, "a returned value like `%y`")?;
        self.check_signature(declared.as_deref(), &returned)?;
        for r in &returned {
            let v = self.lookup(r)?;
            self.graph.add_output(v);
        }
        self.expect(&Tok::RBrace, "`,` or `}` after the returned values")?;
        if *self.peek() != Tok::Eof {
            return Err(self.expected("end of input after the graph's closing `}`"));
        }
        Ok(())
    }

    /// `%a, %b, ...` up to (not including) `end`; may be empty.
    fn name_list(&mut self, end: &Tok, what: &str) -> PResult<Vec<NameAt>> {
        let mut names = Vec::new();
        if self.peek() == end {
            return Ok(names);
        }
        loop {
            names.push(self.value_name(what)?);
            if !self.eat(&Tok::Comma) {
                return Ok(names);
            }
        }
    }

    /// The `return` list must repeat the signature's `-> (...)` when there is one.
    fn check_signature(&self, declared: Option<&[NameAt]>, returned: &[NameAt]) -> PResult<()> {
        let Some(declared) = declared else {
            return Ok(());
        };
        for (i, d) in declared.iter().enumerate() {
            match returned.get(i) {
                Some(r) if r.name == d.name => {}
                Some(r) => {
                    return Err(self.err_at(
                        r.tok,
                        format!(
                            "`return` gives `%{}` where the signature names `%{}`",
                            r.name, d.name
                        ),
                    ));
                }
                None => {
                    return Err(self.err_at(
                        self.pos,
                        format!(
                            "`return` gives {} values, but the signature lists {}",
                            returned.len(),
                            declared.len()
                        ),
                    ));
                }
            }
        }
        if let Some(extra) = returned.get(declared.len()) {
            return Err(self.err_at(
                extra.tok,
                format!(
                    "`return` gives {} values, but the signature lists {}",
                    returned.len(),
                    declared.len()
                ),
            ));
        }
        Ok(())
    }

    fn param(&mut self) -> PResult<()> {
        let name = self.value_name("an input like `%x: f32[2]`")?;
        if !self.eat(&Tok::Colon) {
            let mut e = self.expected("`:` and the input's type");
            if name.name.contains(':') {
                e.message.push_str(
                    " (names may contain `:`; put a space between the name and `:`, or quote it)",
                );
            }
            return Err(e);
        }
        let ty = self.tensor_type()?;
        self.check_fresh(&name)?;
        let v = self.graph.add_input(name.name.clone(), ty);
        self.scope.insert(name.name, v);
        Ok(())
    }

    /// `%a, %b = ...`: a constant or a node.
    fn statement(&mut self) -> PResult<()> {
        let outs = self.name_list(&Tok::Equals, "a value name")?;
        self.expect(&Tok::Equals, "`=` or `,` after the defined values")?;
        for (i, o) in outs.iter().enumerate() {
            if outs[..i].iter().any(|p| p.name == o.name) {
                return Err(self.err_at(o.tok, format!("value `%{}` is defined twice", o.name)));
            }
            self.check_fresh(o)?;
        }
        if self.eat_word("const") {
            if let Some(extra) = outs.get(1) {
                return Err(self.err_at(extra.tok, "`const` defines exactly one value"));
            }
            let t = self.tensor_literal()?;
            if let Some(o) = outs.into_iter().next() {
                let v = self.graph.add_named_constant(Some(o.name.clone()), t);
                self.scope.insert(o.name, v);
            }
            return Ok(());
        }
        self.node(outs)
    }

    fn check_fresh(&self, name: &NameAt) -> PResult<()> {
        if self.scope.contains_key(&name.name) {
            return Err(self.err_at(name.tok, format!("value `%{}` is defined twice", name.name)));
        }
        Ok(())
    }

    fn lookup(&self, name: &NameAt) -> PResult<ValueId> {
        self.scope.get(&name.name).copied().ok_or_else(|| {
            self.err_at(
                name.tok,
                format!("value `%{}` is used before it is defined", name.name),
            )
        })
    }

    /// `op(operands) {attrs}? @"name"? : types`, defining `outs`.
    fn node(&mut self, outs: Vec<NameAt>) -> PResult<()> {
        let (op_name, op_tok) = self.word("an operator name or `const`")?;
        self.expect(&Tok::LParen, "`(` and the operands")?;
        let mut inputs = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                inputs.push(self.operand()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `)` after an operand")?;
            }
        }
        let attrs = if *self.peek() == Tok::LBrace {
            self.attributes()?
        } else {
            Vec::new()
        };
        let op = self.build_op(&op_name, op_tok, attrs)?;
        let node_name = if self.eat(&Tok::At) {
            match self.peek().clone() {
                Tok::Str(s) | Tok::Word(s) => {
                    self.bump();
                    Some(s)
                }
                _ => return Err(self.expected("the node's name after `@`")),
            }
        } else {
            None
        };
        let mut types = Vec::new();
        let colon = self.pos;
        if self.eat(&Tok::Colon) {
            loop {
                types.push(self.tensor_type()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        } else if !outs.is_empty() {
            return Err(self.expected("`:` and the output types"));
        }
        if types.len() != outs.len() {
            return Err(self.err_at(
                colon,
                format!(
                    "the node defines {} value(s) but gives {} output type(s)",
                    outs.len(),
                    types.len()
                ),
            ));
        }
        let id = self.graph.push_node(op, inputs, types, node_name);
        let values = self.graph.nodes[id].outputs.clone();
        for (o, v) in outs.into_iter().zip(values) {
            self.graph.values[v].name = Some(o.name.clone());
            self.scope.insert(o.name, v);
        }
        Ok(())
    }

    /// `%v` or `_` (an absent operand).
    fn operand(&mut self) -> PResult<Option<ValueId>> {
        if self.eat_word("_") {
            return Ok(None);
        }
        let name = self.value_name("an operand (`%v`, or `_` for an absent one)")?;
        self.lookup(&name).map(Some)
    }

    /// `{name = value, ...}`, each name with the token it was written at.
    fn attributes(&mut self) -> PResult<Vec<(String, Attr, usize)>> {
        self.expect(&Tok::LBrace, "`{`")?;
        let mut attrs: Vec<(String, Attr, usize)> = Vec::new();
        if self.eat(&Tok::RBrace) {
            return Ok(attrs);
        }
        loop {
            let (name, tok) = self.word("an attribute name")?;
            if attrs.iter().any(|(n, _, _)| *n == name) {
                return Err(self.err_at(tok, format!("attribute `{name}` is given twice")));
            }
            self.expect(&Tok::Equals, "`=` after the attribute name")?;
            let value = self.attr_value()?;
            attrs.push((name, value, tok));
            if self.eat(&Tok::RBrace) {
                return Ok(attrs);
            }
            self.expect(&Tok::Comma, "`,` or `}` after an attribute")?;
        }
    }

    fn build_op(&self, name: &str, tok: usize, attrs: Vec<(String, Attr, usize)>) -> PResult<Op> {
        let positions: Vec<(String, usize)> =
            attrs.iter().map(|(n, _, t)| (n.clone(), *t)).collect();
        let at_attr = |attr: &str| {
            positions
                .iter()
                .find(|(n, _)| n == attr)
                .map_or(tok, |(_, t)| *t)
        };
        let list = attrs.into_iter().map(|(n, a, _)| (n, a)).collect();
        Op::from_parts(name, list).map_err(|e| {
            let at = match &e {
                AttrError::Unknown { attr, .. } => at_attr(attr),
                AttrError::WrongKind { attr, .. } => at_attr(attr),
                AttrError::UnknownOp(_) | AttrError::Missing { .. } => tok,
            };
            self.err_at(at, e.to_string())
        })
    }

    // ----- types and literals -----

    fn dtype(&mut self) -> PResult<DType> {
        let (w, tok) = self.word("a dtype like `f32`")?;
        w.parse::<DType>()
            .map_err(|e| self.err_at(tok, e.to_string()))
    }

    /// `f32[2, ?n]`.
    fn tensor_type(&mut self) -> PResult<TensorType> {
        let dtype = self.dtype()?;
        self.expect(&Tok::LBracket, "`[` and the dims of the type")?;
        let mut dims = Vec::new();
        if !self.eat(&Tok::RBracket) {
            loop {
                dims.push(self.dim()?);
                if self.eat(&Tok::RBracket) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `]` after a dim")?;
            }
        }
        Ok(TensorType {
            dtype,
            shape: Shape(dims),
        })
    }

    fn dim(&mut self) -> PResult<Dim> {
        match self.peek().clone() {
            Tok::Number(n) => {
                let tok = self.bump();
                n.parse::<usize>()
                    .map(Dim::Static)
                    .map_err(|_| self.err_at(tok, format!("`{n}` is not a valid dim size")))
            }
            Tok::SymDim(s) => {
                self.bump();
                Ok(Dim::Symbolic(s))
            }
            _ => Err(self.expected("a dim (a size like `3` or a symbol like `?n`)")),
        }
    }

    /// `f32[2] [1.0, 2.0]` or `f32[2] hex"..."`: a static type and its data.
    fn tensor_literal(&mut self) -> PResult<Tensor> {
        let type_tok = self.pos;
        let ty = self.tensor_type()?;
        let Some(dims) = ty.shape.as_static() else {
            return Err(self.err_at(type_tok, "a constant's shape must be static"));
        };
        let Some(count) = checked_product(&dims) else {
            return Err(self.err_at(type_tok, "the constant's shape has too many elements"));
        };
        let data_tok = self.pos;
        let bytes = match self.peek() {
            Tok::Hex(_) => {
                let bytes = self.take_hex();
                let need = count.checked_mul(ty.dtype.size_bytes());
                if need != Some(bytes.len()) {
                    return Err(self.err_at(
                        data_tok,
                        format!(
                            "hex data has {} bytes, but {} needs {} ({count} elements of {} bytes)",
                            bytes.len(),
                            fmt_type(&ty),
                            count.saturating_mul(ty.dtype.size_bytes()),
                            ty.dtype.size_bytes()
                        ),
                    ));
                }
                bytes
            }
            Tok::LBracket => self.element_list(ty.dtype, count, &ty)?,
            _ => return Err(self.expected("the constant's data: `[...]` or `hex\"...\"`")),
        };
        Tensor::from_bytes(ty.dtype, &dims, bytes).map_err(|e| self.err_at(data_tok, e.to_string()))
    }

    /// `[l0, l1, ...]` with exactly `count` literals, as bytes of `dtype`.
    fn element_list(&mut self, dtype: DType, count: usize, ty: &TensorType) -> PResult<Vec<u8>> {
        let open = self.expect(&Tok::LBracket, "`[`")?;
        let mut bytes = Vec::new();
        let mut n = 0usize;
        if !self.eat(&Tok::RBracket) {
            loop {
                let tok = self.pos;
                let lit = self.literal()?;
                push_element(dtype, &lit, &mut bytes).map_err(|m| self.err_at(tok, m))?;
                n += 1;
                if self.eat(&Tok::RBracket) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `]` after a literal")?;
            }
        }
        if n != count {
            return Err(self.err_at(
                open,
                format!(
                    "{} has {count} elements, but {n} literals are given",
                    fmt_type(ty)
                ),
            ));
        }
        Ok(bytes)
    }

    /// One element literal: `-`? number, `nan`, `inf`, `true`, `false`.
    fn literal(&mut self) -> PResult<Lit> {
        let negative = self.eat(&Tok::Minus);
        let lit = match self.peek().clone() {
            Tok::Number(n) => Lit::Num {
                is_float: n.contains(['.', 'e']),
                text: if negative { format!("-{n}") } else { n },
            },
            Tok::Word(w) if w == "nan" => Lit::Nan { negative },
            Tok::Word(w) if w == "inf" => Lit::Inf { negative },
            Tok::Word(w) if !negative && (w == "true" || w == "false") => Lit::Bool(w == "true"),
            _ => return Err(self.expected("a literal (a number, `nan`, `inf`, `true` or `false`)")),
        };
        self.bump();
        Ok(lit)
    }

    /// One attribute value (see the module docs).
    fn attr_value(&mut self) -> PResult<Attr> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(Attr::Str(s))
            }
            Tok::LBracket => self.attr_list(),
            Tok::Word(w) if w == "true" || w == "false" => {
                self.bump();
                Ok(Attr::Bool(w == "true"))
            }
            Tok::Word(w) if w != "nan" && w != "inf" => {
                if *self.peek2() == Tok::LBracket {
                    return self.tensor_literal().map(Attr::Tensor);
                }
                self.bump();
                Ok(Attr::Ident(w))
            }
            Tok::Minus | Tok::Number(_) | Tok::Word(_) => {
                let tok = self.pos;
                let lit = self.literal()?;
                self.scalar_attr(&lit, tok)
            }
            _ => Err(self.expected(
                "an attribute value (a number, string, word, `[list]` or tensor like `f32[] [0.0]`)",
            )),
        }
    }

    fn scalar_attr(&self, lit: &Lit, tok: usize) -> PResult<Attr> {
        match lit {
            Lit::Num {
                is_float: false, ..
            } => {
                let v = lit.to_int().map_err(|m| self.err_at(tok, m))?;
                i64::try_from(v)
                    .map(Attr::Int)
                    .map_err(|_| self.err_at(tok, format!("integer `{v}` is out of range for i64")))
            }
            Lit::Bool(b) => Ok(Attr::Bool(*b)),
            _ => lit
                .to_f32()
                .map(Attr::Float)
                .map_err(|m| self.err_at(tok, m)),
        }
    }

    /// `[...]` of numbers: ints when every entry is an integer, floats otherwise.
    fn attr_list(&mut self) -> PResult<Attr> {
        self.expect(&Tok::LBracket, "`[`")?;
        let mut lits = Vec::new();
        if !self.eat(&Tok::RBracket) {
            loop {
                let tok = self.pos;
                let lit = self.literal()?;
                if matches!(lit, Lit::Bool(_)) {
                    return Err(self.err_at(tok, "attribute lists hold numbers only"));
                }
                lits.push((lit, tok));
                if self.eat(&Tok::RBracket) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `]` in a list")?;
            }
        }
        let all_ints = lits.iter().all(|(l, _)| {
            matches!(
                l,
                Lit::Num {
                    is_float: false,
                    ..
                }
            )
        });
        if all_ints {
            let mut v = Vec::with_capacity(lits.len());
            for (l, tok) in &lits {
                match self.scalar_attr(l, *tok)? {
                    Attr::Int(i) => v.push(i),
                    _ => return Err(self.err_at(*tok, "expected an integer")),
                }
            }
            Ok(Attr::Ints(v))
        } else {
            let v: PResult<Vec<f32>> = lits
                .iter()
                .map(|(l, tok)| l.to_f32().map_err(|m| self.err_at(*tok, m)))
                .collect();
            v.map(Attr::Floats)
        }
    }
}
