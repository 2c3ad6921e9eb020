//! The printer of the text form: one deterministic line per input, constant and node, with
//! unique value names.

use super::lexer::{is_bare_name, is_word};
use super::literal::{fmt_f32, fmt_tensor_data, quote};
use crate::attr::Attr;
use crate::graph::{Graph, Node, TensorType, ValueDef, ValueId};
use crate::shape::Dim;
use crate::tensor::Tensor;
use std::collections::HashSet;
use std::fmt::Write;

/// Prints `graph` in the text form (see the module docs for the grammar).
pub(crate) fn print(graph: &Graph) -> String {
    let p = Printer {
        graph,
        names: assign_names(graph),
    };
    let mut out = p.header();
    for (v, value) in graph.values.iter() {
        if let ValueDef::Constant(_) = value.def {
            out.push_str(&p.constant_line(v));
        }
    }
    for (_, node) in graph.nodes.iter() {
        out.push_str(&p.node_line(node));
    }
    out.push_str(&p.footer());
    out
}

/// A graph with the printed name of each of its values.
struct Printer<'g> {
    graph: &'g Graph,
    names: Vec<Option<String>>,
}

impl Printer<'_> {
    /// `%name` of a value.
    fn value(&self, v: ValueId) -> String {
        value_ref(self.names.get(v.index()).and_then(|n| n.as_deref()), v)
    }

    /// `%a, %b`.
    fn values(&self, vs: &[ValueId]) -> String {
        let names: Vec<String> = vs.iter().map(|&v| self.value(v)).collect();
        names.join(", ")
    }

    fn type_of(&self, v: ValueId) -> String {
        match self.graph.values.get(v) {
            Some(value) => fmt_type(&value.ty),
            None => "<dangling>".to_string(),
        }
    }

    /// `graph name(%x: f32[2]) -> (%y) {`.
    fn header(&self) -> String {
        let g = self.graph;
        let name = if is_word(&g.name) {
            g.name.clone()
        } else {
            quote(&g.name)
        };
        let params: Vec<String> = g
            .inputs
            .iter()
            .map(|&v| format!("{}: {}", self.value(v), self.type_of(v)))
            .collect();
        format!(
            "graph {name}({}) -> ({}) {{\n",
            params.join(", "),
            self.values(&g.outputs)
        )
    }

    /// `  %w = const f32[2] [1.0, 2.0]`. A value whose tensor is missing (a malformed graph)
    /// prints with empty data, which the parser rejects unless the type is empty.
    fn constant_line(&self, v: ValueId) -> String {
        let body = match (self.graph.constant_of(v), self.graph.values.get(v)) {
            (Some(t), _) => fmt_tensor(t),
            (None, Some(value)) => format!("{} hex\"\"", fmt_type(&value.ty)),
            (None, None) => "<dangling>".to_string(),
        };
        format!("  {} = const {body}\n", self.value(v))
    }

    /// `  %a, %b = op(%x, _) {attr = 1} @"name" : f32[1], f32[1]`.
    fn node_line(&self, node: &Node) -> String {
        let mut line = String::from("  ");
        if !node.outputs.is_empty() {
            line.push_str(&self.values(&node.outputs));
            line.push_str(" = ");
        }
        let operands: Vec<String> = node
            .inputs
            .iter()
            .map(|i| i.map_or_else(|| "_".to_string(), |v| self.value(v)))
            .collect();
        let _ = write!(line, "{}({})", node.op.name(), operands.join(", "));
        let attrs = node.op.attributes();
        if !attrs.is_empty() {
            let items: Vec<String> = attrs
                .iter()
                .map(|(k, a)| format!("{k} = {}", fmt_attr(a)))
                .collect();
            let _ = write!(line, " {{{}}}", items.join(", "));
        }
        if let Some(n) = &node.name {
            let _ = write!(line, " @{}", quote(n));
        }
        if !node.outputs.is_empty() {
            let tys: Vec<String> = node.outputs.iter().map(|&v| self.type_of(v)).collect();
            let _ = write!(line, " : {}", tys.join(", "));
        }
        line.push('\n');
        line
    }

    /// `  return %y` and the closing brace.
    fn footer(&self) -> String {
        if self.graph.outputs.is_empty() {
            "  return\n}\n".to_string()
        } else {
            format!("  return {}\n}}\n", self.values(&self.graph.outputs))
        }
    }
}

/// `%name`, quoted when needed; a dangling handle prints as a name no graph defines.
fn value_ref(name: Option<&str>, v: ValueId) -> String {
    match name {
        Some(n) if is_bare_name(n) => format!("%{n}"),
        Some(n) => format!("%{}", quote(n)),
        None => format!("%{}", quote(&format!("<dangling value #{}>", v.index()))),
    }
}

/// `f32[2, ?n]`.
pub(crate) fn fmt_type(ty: &TensorType) -> String {
    let dims: Vec<String> = ty
        .shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Static(n) => n.to_string(),
            Dim::Symbolic(s) if is_bare_name(s) => format!("?{s}"),
            Dim::Symbolic(s) => format!("?{}", quote(s)),
        })
        .collect();
    format!("{}[{}]", ty.dtype.name(), dims.join(", "))
}

/// `f32[2] [1.0, 2.0]` or `f32[100] hex"..."`.
fn fmt_tensor(t: &Tensor) -> String {
    format!("{} {}", fmt_type(&TensorType::of(t)), fmt_tensor_data(t))
}

/// An attribute value: `1`, `0.5`, `true`, `[1, 2]`, `"s"`, `notset`, `f32[] [0.0]`.
fn fmt_attr(a: &Attr) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    match a {
        Attr::Int(i) => i.to_string(),
        Attr::Float(x) => fmt_f32(*x),
        Attr::Bool(b) => b.to_string(),
        Attr::Ints(v) => list(v.iter().map(i64::to_string).collect()),
        Attr::Floats(v) => list(v.iter().map(|x| fmt_f32(*x)).collect()),
        Attr::Str(s) => quote(s),
        Attr::Ident(s) if is_word(s) && !is_reserved_attr_word(s) => s.clone(),
        Attr::Ident(s) => quote(s),
        Attr::DType(d) => d.name().to_string(),
        Attr::Tensor(t) => fmt_tensor(t),
    }
}

/// Words that read as something other than an identifier in attribute position.
fn is_reserved_attr_word(s: &str) -> bool {
    matches!(s, "true" | "false" | "nan" | "inf" | "hex")
}

/// A unique printed name for every value printed: named values keep their name (a repeated
/// name gets `.1`, `.2`, ... in print order), unnamed ones get the smallest free number.
fn assign_names(graph: &Graph) -> Vec<Option<String>> {
    let mut order: Vec<ValueId> = graph.inputs.clone();
    order.extend(
        graph
            .values
            .iter()
            .filter(|(_, v)| matches!(v.def, ValueDef::Constant(_)))
            .map(|(h, _)| h),
    );
    for (_, node) in graph.nodes.iter() {
        order.extend(node.outputs.iter().copied());
    }
    // Every given name is reserved up front so that no invented name can take it.
    let mut taken: HashSet<String> = graph
        .values
        .iter()
        .filter_map(|(_, v)| v.name.clone())
        .collect();
    let mut first_use: HashSet<String> = HashSet::new();
    let mut names: Vec<Option<String>> = vec![None; graph.values.len()];
    let mut next_number = 0usize;
    for v in order {
        let Some(slot) = names.get_mut(v.index()) else {
            continue;
        };
        if slot.is_some() {
            continue;
        }
        let given = graph.values.get(v).and_then(|x| x.name.clone());
        *slot = Some(match given {
            Some(n) if first_use.insert(n.clone()) => n,
            Some(n) => {
                let fresh = (1..)
                    .map(|k| format!("{n}.{k}"))
                    .find(|c| !taken.contains(c))
                    .unwrap_or_default();
                taken.insert(fresh.clone());
                fresh
            }
            None => {
                while taken.contains(&next_number.to_string()) {
                    next_number += 1;
                }
                let fresh = next_number.to_string();
                taken.insert(fresh.clone());
                fresh
            }
        });
    }
    names
}
