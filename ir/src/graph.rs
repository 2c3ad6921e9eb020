//! The graph IR: typed values and operator nodes on arenas, with graph inputs, outputs and
//! constants stored once.
//!
//! Invariant: nodes are stored in a topological order — every node's inputs are graph inputs,
//! constants, or outputs of nodes stored before it. Builders and importers keep it; the
//! verifier checks it.

use crate::arena::{Arena, Handle};
use crate::dtype::DType;
use crate::op::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt;

/// Handle of a value in a [`Graph`].
pub type ValueId = Handle<Value>;
/// Handle of a node in a [`Graph`].
pub type NodeId = Handle<Node>;
/// Handle of a constant tensor in a [`Graph`].
pub type ConstId = Handle<Tensor>;

/// The static type of a value: dtype and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Shape,
}

impl TensorType {
    /// A type with static dims.
    pub fn new(dtype: DType, dims: &[usize]) -> Self {
        TensorType {
            dtype,
            shape: Shape::new(dims),
        }
    }

    /// The type of a concrete tensor.
    pub fn of(t: &Tensor) -> Self {
        TensorType::new(t.dtype(), t.shape())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueDef {
    /// The i-th graph input.
    Input(usize),
    /// A constant tensor.
    Constant(ConstId),
    /// Output `index` of a node.
    Node(NodeId, usize),
}

/// A typed value (an SSA edge) of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The name, when the value has one (graph inputs and outputs always do).
    pub name: Option<String>,
    /// Static type.
    pub ty: TensorType,
    /// Its definition.
    pub def: ValueDef,
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's own name (from the source model), if any.
    pub name: Option<String>,
    /// The operator with its attributes.
    pub op: Op,
    /// Operands; `None` is an absent optional operand.
    pub inputs: Vec<Option<ValueId>>,
    /// Results, in order.
    pub outputs: Vec<ValueId>,
}

impl Node {
    /// Operand `i`, when present.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }
}

/// A tensor graph: a function from named inputs to named outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The graph's name.
    pub name: String,
    /// Every value.
    pub values: Arena<Value>,
    /// Every node, in topological order.
    pub nodes: Arena<Node>,
    /// Constant tensors, each stored once.
    pub constants: Arena<Tensor>,
    /// Graph inputs, in order.
    pub inputs: Vec<ValueId>,
    /// Graph outputs, in order.
    pub outputs: Vec<ValueId>,
    const_index: HashMap<(DType, Vec<usize>, Vec<u8>), ValueId>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> ValueId {
        let v = self.values.push(Value {
            name: Some(name.into()),
            ty,
            def: ValueDef::Input(self.inputs.len()),
        });
        self.inputs.push(v);
        v
    }

    /// Adds a constant; an identical constant (same dtype, shape and bytes) that has no name is
    /// reused, so each tensor is stored once.
    pub fn add_constant(&mut self, tensor: Tensor) -> ValueId {
        let key = (
            tensor.dtype(),
            tensor.shape().to_vec(),
            tensor.bytes().to_vec(),
        );
        if let Some(&v) = self.const_index.get(&key) {
            return v;
        }
        let v = self.add_named_constant(None, tensor);
        self.const_index.insert(key, v);
        v
    }

    /// Adds a constant with a name (an initializer); never merged with others.
    pub fn add_named_constant(&mut self, name: Option<String>, tensor: Tensor) -> ValueId {
        let ty = TensorType::of(&tensor);
        let c = self.constants.push(tensor);
        self.values.push(Value {
            name,
            ty,
            def: ValueDef::Constant(c),
        })
    }

    /// Appends a node whose outputs have the given types; returns the node.
    ///
    /// The caller is responsible for the types (see [`crate::infer`] to compute them) and for
    /// the inputs being defined already.
    pub fn push_node(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        output_types: Vec<TensorType>,
        name: Option<String>,
    ) -> NodeId {
        let id = Handle::from_index(self.nodes.len());
        let outputs = output_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                self.values.push(Value {
                    name: None,
                    ty,
                    def: ValueDef::Node(id, i),
                })
            })
            .collect();
        let pushed = self.nodes.push(Node {
            name,
            op,
            inputs,
            outputs,
        });
        debug_assert_eq!(pushed, id);
        id
    }

    /// Marks a value as a graph output.
    pub fn add_output(&mut self, v: ValueId) {
        self.outputs.push(v);
    }

    /// The value behind a handle.
    pub fn value(&self, v: ValueId) -> &Value {
        &self.values[v]
    }

    /// The node behind a handle.
    pub fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n]
    }

    /// The constant tensor of a value, when it is a constant.
    pub fn constant_of(&self, v: ValueId) -> Option<&Tensor> {
        match self.values.get(v)?.def {
            ValueDef::Constant(c) => self.constants.get(c),
            _ => None,
        }
    }

    /// A printable name for a value: its name, or `%<index>`.
    pub fn value_label(&self, v: ValueId) -> String {
        match self.values.get(v).and_then(|x| x.name.clone()) {
            Some(n) => n,
            None => format!("%{}", v.index()),
        }
    }

    /// A printable name for a node: its name, or `#<index>`, followed by nothing else.
    pub fn node_label(&self, n: NodeId) -> String {
        match self.nodes.get(n).and_then(|x| x.name.clone()) {
            Some(name) => name,
            None => format!("#{}", n.index()),
        }
    }

    /// The graph input called `name`.
    pub fn input_named(&self, name: &str) -> Option<ValueId> {
        self.inputs
            .iter()
            .copied()
            .find(|&v| self.values[v].name.as_deref() == Some(name))
    }

    /// For each value, the nodes that read it (in node order, once per node).
    pub fn users(&self) -> Vec<Vec<NodeId>> {
        let mut users = vec![Vec::new(); self.values.len()];
        for (id, node) in self.nodes.iter() {
            for v in node.inputs.iter().flatten() {
                let u: &mut Vec<NodeId> = &mut users[v.index()];
                if u.last() != Some(&id) {
                    u.push(id);
                }
            }
        }
        users
    }

    /// A new graph holding only the nodes for which `keep` is true (and the values, constants
    /// and inputs they need), with handles renumbered. Kept nodes' inputs must be kept too.
    ///
    /// `replace` maps values to stand-ins (applied to node inputs and graph outputs) before
    /// filtering; passes use it to forward a removed node's outputs to surviving values.
    pub fn rebuilt(
        &self,
        keep: impl Fn(NodeId) -> bool,
        replace: &HashMap<ValueId, ValueId>,
    ) -> Graph {
        let resolve = |mut v: ValueId| {
            while let Some(&r) = replace.get(&v) {
                if r == v {
                    break;
                }
                v = r;
            }
            v
        };
        let mut out = Graph::new(self.name.clone());
        let mut map: HashMap<ValueId, ValueId> = HashMap::new();
        for &i in &self.inputs {
            let v = &self.values[i];
            let n = out.add_input(v.name.clone().unwrap_or_default(), v.ty.clone());
            map.insert(i, n);
        }
        let copy_const = |out: &mut Graph, map: &mut HashMap<ValueId, ValueId>, v: ValueId| {
            if map.contains_key(&v) {
                return;
            }
            if let Some(t) = self.constant_of(v) {
                let val = &self.values[v];
                let nv = match &val.name {
                    Some(n) => out.add_named_constant(Some(n.clone()), t.clone()),
                    None => out.add_constant(t.clone()),
                };
                map.insert(v, nv);
            }
        };
        for (id, node) in self.nodes.iter() {
            if !keep(id) {
                continue;
            }
            let inputs: Vec<Option<ValueId>> = node
                .inputs
                .iter()
                .map(|i| {
                    i.map(|v| {
                        let v = resolve(v);
                        copy_const(&mut out, &mut map, v);
                        map[&v]
                    })
                })
                .collect();
            let tys = node
                .outputs
                .iter()
                .map(|&o| self.values[o].ty.clone())
                .collect();
            let nid = out.push_node(node.op.clone(), inputs, tys, node.name.clone());
            for (k, &o) in node.outputs.iter().enumerate() {
                let no = out.nodes[nid].outputs[k];
                out.values[no].name = self.values[o].name.clone();
                map.insert(o, no);
            }
        }
        for &o in &self.outputs {
            let v = resolve(o);
            copy_const(&mut out, &mut map, v);
            let nv = map[&v];
            // Keep the output's name when a stand-in replaced it.
            if v != o && out.values[nv].name.is_none() {
                out.values[nv].name = self.values[o].name.clone();
            }
            out.outputs.push(nv);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::UnaryOp;

    #[test]
    fn constants_are_stored_once() {
        let mut g = Graph::new("g");
        let a = g.add_constant(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap());
        let b = g.add_constant(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap());
        let c = g.add_constant(Tensor::from_vec(&[2], vec![1i32, 2]).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(g.constants.len(), 2);
    }

    #[test]
    fn rebuild_drops_nodes() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(DType::F32, &[3]));
        let n1 = g.push_node(
            Op::Unary(UnaryOp::Relu),
            vec![Some(x)],
            vec![TensorType::new(DType::F32, &[3])],
            None,
        );
        let y = g.nodes[n1].outputs[0];
        let n2 = g.push_node(
            Op::Unary(UnaryOp::Neg),
            vec![Some(x)],
            vec![TensorType::new(DType::F32, &[3])],
            None,
        );
        let _ = n2;
        g.values[y].name = Some("y".into());
        g.add_output(y);
        let h = g.rebuilt(|n| n == n1, &HashMap::new());
        assert_eq!(h.nodes.len(), 1);
        assert_eq!(h.value_label(h.outputs[0]), "y");
        assert_eq!(g.users()[x.index()].len(), 2);
    }
}
