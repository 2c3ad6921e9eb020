//! Graph-level import: opsets, initializers, graph inputs and outputs, topological ordering of
//! nodes, model-local function inlining, and the node context that operator mappings emit IR
//! nodes through.

use super::attrs::NodeAttrs;
use super::compose_training::{is_preview_domain, map_preview_node};
use super::error::OnnxError;
use super::ops::map_node;
use super::proto::{
    AttributeProto, Dimension, DimensionValue, FunctionProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TypeProto, TypeValue, ValueInfoProto,
};
use super::tensor::{dtype_of, tensor_from_proto};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use tessera_ir::infer::Operand;
use tessera_ir::{At, Dim, Graph, IrError, Op, Shape, Tensor, TensorType, UnaryOp, ValueId};

/// Computes the output types of an operator (normally `tessera_ir::infer::infer_op`).
pub(crate) type InferFn =
    fn(&Op, &At, &[Option<Operand<'_>>], usize) -> Result<Vec<TensorType>, IrError>;

/// The oldest default-domain opset the importer maps every operator of; older opsets (1-6)
/// are accepted for the operators whose semantics did not change up to this one.
pub(crate) const MIN_OPSET: i64 = 7;

/// Constants larger than this (in elements) are never folded at import.
const FOLD_LIMIT: usize = 1024;

/// How deeply model-local functions may call each other.
const MAX_INLINE_DEPTH: usize = 32;

/// How many nodes inlining function bodies may add in all.
const MAX_INLINED_NODES: usize = 1 << 18;

/// The default domain's canonical spelling ("" and "ai.onnx" are the same domain).
fn normalize_domain(d: Option<&str>) -> String {
    match d.unwrap_or("") {
        "ai.onnx" => String::new(),
        other => other.to_string(),
    }
}

/// A label for node `index` of a node list: its name, or `<op_type>#<index>`.
pub(crate) fn node_label(node: &NodeProto, index: usize) -> String {
    match node.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("{}#{index}", node.op_type.as_deref().unwrap_or("")),
    }
}

/// The values visible to a list of nodes (a graph or one inlined function body).
struct Scope {
    /// ONNX value name to IR value; `None` for a function's absent optional inputs.
    values: HashMap<String, Option<ValueId>>,
    /// Opset version per (normalized) domain.
    opsets: HashMap<String, i64>,
    /// Prefix of node labels (the call path of inlined functions).
    prefix: String,
}

/// Opset versions by domain, checking the default domain's version.
fn opset_map(imports: &[OperatorSetIdProto]) -> Result<HashMap<String, i64>, OnnxError> {
    let mut map = HashMap::new();
    for o in imports {
        let domain = normalize_domain(o.domain.as_deref());
        let version = o.version.unwrap_or(0);
        if domain.is_empty() && version < 1 {
            return Err(OnnxError::UnsupportedOpset { domain, version });
        }
        map.insert(domain, version);
    }
    Ok(map)
}

/// The importer's state while one model is converted.
pub(crate) struct Importer<'m> {
    /// The graph being built.
    pub(crate) graph: Graph,
    infer: InferFn,
    /// Directory for external data files.
    pub(crate) model_dir: Option<&'m Path>,
    functions: HashMap<(String, String, String), &'m FunctionProto>,
    /// The functions being inlined, innermost last (recursion is refused).
    inlining: Vec<(String, String, String)>,
    /// Nodes imported from function bodies so far (bounded against exponential fan-out).
    inlined_nodes: usize,
}

/// Imports a decoded model, computing node output types with `infer`.
pub(crate) fn import_proto(
    model: &ModelProto,
    model_dir: Option<&Path>,
    infer: InferFn,
) -> Result<Graph, OnnxError> {
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::InvalidModel("the model has no graph".into()))?;
    let mut functions = HashMap::new();
    for f in &model.functions {
        let key = (
            normalize_domain(f.domain.as_deref()),
            f.name.clone().unwrap_or_default(),
            f.overload.clone().unwrap_or_default(),
        );
        functions.insert(key, f);
    }
    let mut imp = Importer {
        graph: Graph::new(g.name.clone().unwrap_or_default()),
        infer,
        model_dir,
        functions,
        inlining: Vec::new(),
        inlined_nodes: 0,
    };
    let mut scope = Scope {
        values: HashMap::new(),
        opsets: opset_map(&model.opset_import)?,
        prefix: String::new(),
    };
    imp.add_initializers(g, &mut scope)?;
    imp.add_inputs(g, &mut scope)?;
    imp.import_nodes(&g.node, &mut scope)?;
    for out in &g.output {
        let name = out.name.clone().unwrap_or_default();
        match scope.values.get(&name) {
            Some(Some(v)) => imp.graph.add_output(*v),
            _ => {
                return Err(OnnxError::MissingValue {
                    name,
                    node: "graph output".into(),
                });
            }
        }
    }
    Ok(imp.graph)
}

/// Declares `name` in `scope`, refusing a second definition.
fn define(scope: &mut Scope, name: &str, v: Option<ValueId>) -> Result<(), OnnxError> {
    if scope.values.insert(name.to_string(), v).is_some() {
        return Err(OnnxError::InvalidModel(format!(
            "value `{name}` is defined more than once"
        )));
    }
    Ok(())
}

/// The IR type of a graph input's ONNX type.
fn input_type(info: &ValueInfoProto) -> Result<TensorType, OnnxError> {
    let name = info.name.clone().unwrap_or_default();
    let unsupported = |kind| OnnxError::UnsupportedType {
        value: name.clone(),
        kind,
    };
    let tensor = match info
        .r#type
        .as_ref()
        .and_then(|t: &TypeProto| t.value.as_ref())
    {
        Some(TypeValue::TensorType(t)) => t,
        Some(TypeValue::SequenceType(_)) => return Err(unsupported("sequence")),
        Some(TypeValue::MapType(_)) => return Err(unsupported("map")),
        Some(TypeValue::OptionalType(_)) => return Err(unsupported("optional")),
        Some(TypeValue::SparseTensorType(_)) => return Err(unsupported("sparse tensor")),
        None => return Err(unsupported("no type given")),
    };
    let dtype = dtype_of(tensor.elem_type.unwrap_or(0), &name)?;
    let shape = tensor
        .shape
        .as_ref()
        .ok_or_else(|| unsupported("tensor of unknown rank"))?;
    let dims = shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d): (usize, &Dimension)| match &d.value {
            Some(DimensionValue::DimValue(v)) => {
                usize::try_from(*v)
                    .map(Dim::Static)
                    .map_err(|_| OnnxError::DimsOverflow {
                        what: name.clone(),
                        dims: shape
                            .dim
                            .iter()
                            .map(|d| match d.value {
                                Some(DimensionValue::DimValue(v)) => v,
                                _ => -1,
                            })
                            .collect(),
                    })
            }
            Some(DimensionValue::DimParam(p)) if !p.is_empty() => Ok(Dim::Symbolic(p.clone())),
            _ => Ok(Dim::Symbolic(format!("{name}_dim{i}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TensorType {
        dtype,
        shape: Shape(dims),
    })
}

/// Orders `nodes` so that each comes after the producers of its inputs, keeping the file's
/// order where it already is one. `known` says which names are defined before any node.
fn topological_order(
    nodes: &[NodeProto],
    known: impl Fn(&str) -> bool,
    prefix: &str,
) -> Result<Vec<usize>, OnnxError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if known(o) || producer.insert(o.as_str(), i).is_some() {
                return Err(OnnxError::InvalidModel(format!(
                    "value `{o}` is defined more than once"
                )));
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let mut deps = HashSet::new();
        for name in n.input.iter().filter(|s| !s.is_empty()) {
            match producer.get(name.as_str()) {
                Some(&p) => {
                    deps.insert(p);
                }
                None if known(name) => {}
                None => {
                    return Err(OnnxError::MissingValue {
                        name: name.clone(),
                        node: format!("{prefix}{}", node_label(n, i)),
                    });
                }
            }
        }
        waiting[i] = deps.len();
        for p in deps {
            if let Some(c) = consumers.get_mut(p) {
                c.push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..nodes.len())
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &c in consumers.get(i).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(w) = waiting.get_mut(c) {
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(c));
                }
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|i| waiting[*i] > 0).unwrap_or(0);
        let label = nodes
            .get(stuck)
            .map(|n| node_label(n, stuck))
            .unwrap_or_default();
        return Err(OnnxError::GraphCycle {
            node: format!("{prefix}{label}"),
        });
    }
    Ok(order)
}

/// The element count of the broadcast of the operands' shapes (an upper bound when they do
/// not broadcast); `None` on overflow.
fn broadcast_volume(tensors: &[Option<&Tensor>]) -> Option<usize> {
    let rank = tensors
        .iter()
        .flatten()
        .map(|t| t.rank())
        .max()
        .unwrap_or(0);
    (0..rank).try_fold(1usize, |acc, axis| {
        let extent = tensors
            .iter()
            .flatten()
            .filter_map(|t| {
                let s = t.shape();
                (axis + s.len())
                    .checked_sub(rank)
                    .and_then(|i| s.get(i))
                    .copied()
            })
            .max()
            .unwrap_or(1);
        acc.checked_mul(extent)
    })
}

/// Replaces attributes that refer to the caller's (`ref_attr_name`) by the caller's values,
/// falling back to the function's defaults; unbound references are dropped.
fn bind_attributes(
    body: &[AttributeProto],
    caller: &[AttributeProto],
    defaults: &[AttributeProto],
) -> Vec<AttributeProto> {
    body.iter()
        .filter_map(|a| match a.ref_attr_name.as_deref() {
            None => Some(a.clone()),
            Some(r) => caller
                .iter()
                .chain(defaults)
                .find(|c| c.name.as_deref() == Some(r))
                .map(|c| AttributeProto {
                    name: a.name.clone(),
                    ref_attr_name: None,
                    ..c.clone()
                }),
        })
        .collect()
}

impl<'m> Importer<'m> {
    fn add_initializers(&mut self, g: &GraphProto, scope: &mut Scope) -> Result<(), OnnxError> {
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(OnnxError::InvalidModel("an initializer has no name".into()));
            }
            let tensor = tensor_from_proto(t, &name, self.model_dir)?;
            let v = self.graph.add_named_constant(Some(name.clone()), tensor);
            define(scope, &name, Some(v))?;
        }
        Ok(())
    }

    fn add_inputs(&mut self, g: &GraphProto, scope: &mut Scope) -> Result<(), OnnxError> {
        for info in &g.input {
            let name = info.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(OnnxError::InvalidModel("a graph input has no name".into()));
            }
            // Older IR versions also list initializers (the only names defined so far) as
            // inputs: they stay constants.
            if scope.values.contains_key(&name) {
                continue;
            }
            let ty = input_type(info)?;
            let v = self.graph.add_input(name.clone(), ty);
            define(scope, &name, Some(v))?;
        }
        Ok(())
    }

    fn import_nodes(&mut self, nodes: &[NodeProto], scope: &mut Scope) -> Result<(), OnnxError> {
        let order = topological_order(nodes, |n| scope.values.contains_key(n), &scope.prefix)?;
        for i in order {
            if let Some(node) = nodes.get(i) {
                self.import_node(node, i, scope)?;
            }
        }
        Ok(())
    }

    fn import_node(
        &mut self,
        node: &NodeProto,
        index: usize,
        scope: &mut Scope,
    ) -> Result<(), OnnxError> {
        let label = format!("{}{}", scope.prefix, node_label(node, index));
        let op_type = node.op_type.clone().unwrap_or_default();
        let domain = normalize_domain(node.domain.as_deref());
        let mut inputs = Vec::with_capacity(node.input.len());
        for name in &node.input {
            if name.is_empty() {
                inputs.push(None);
                continue;
            }
            match scope.values.get(name) {
                Some(v) => inputs.push(*v),
                None => {
                    return Err(OnnxError::MissingValue {
                        name: name.clone(),
                        node: label,
                    });
                }
            }
        }
        let used = node
            .output
            .iter()
            .rposition(|o| !o.is_empty())
            .map_or(0, |p| p + 1);
        let outputs = node.output.get(..used).unwrap_or(&[]);
        let key = (
            domain.clone(),
            op_type.clone(),
            node.overload.clone().unwrap_or_default(),
        );
        let start = self.graph.values.len();
        let values =
            if let Some(f) = self.functions.get(&key).copied() {
                self.inline_function(f, node, &label, inputs, outputs.len(), scope)?
            } else if domain == "ai.onnx.ml" && super::compose_vision::is_ml_op(&op_type) {
                let mut ctx = NodeCtx {
                    imp: self,
                    label: &label,
                    name: node.name.clone().filter(|n| !n.is_empty()),
                    op_type: &op_type,
                    opset: scope.opsets.get(&domain).copied().unwrap_or(1),
                    attrs: NodeAttrs::new(&node.attribute, &label, &op_type),
                    inputs,
                    num_outputs: outputs.len(),
                    declared_outputs: node.output.len(),
                    opsets: &scope.opsets,
                    outer: &scope.values,
                };
                super::compose_vision::map_ml(&mut ctx)?
            } else if !domain.is_empty() && !is_preview_domain(&domain) {
                return Err(OnnxError::UnsupportedOp {
                    node: label,
                    op_type,
                    opset: scope.opsets.get(&domain).copied().unwrap_or(0),
                    domain,
                });
            } else {
                let opset = scope.opsets.get(&domain).copied().ok_or_else(|| {
                    OnnxError::UnsupportedOpset {
                        domain: domain.clone(),
                        version: 0,
                    }
                })?;
                let mut ctx = NodeCtx {
                    imp: self,
                    label: &label,
                    name: node.name.clone().filter(|n| !n.is_empty()),
                    op_type: &op_type,
                    opset,
                    attrs: NodeAttrs::new(&node.attribute, &label, &op_type),
                    inputs,
                    num_outputs: outputs.len(),
                    declared_outputs: node.output.len(),
                    opsets: &scope.opsets,
                    outer: &scope.values,
                };
                if domain.is_empty() {
                    map_node(&mut ctx)?
                } else {
                    map_preview_node(&mut ctx, &domain)?
                }
            };
        self.bind_outputs(scope, outputs, &values, start, &label)
    }

    /// Names the values a node produced after its ONNX outputs and declares them in `scope`.
    /// Values created for this node take the name; others (reused values) get an Identity.
    fn bind_outputs(
        &mut self,
        scope: &mut Scope,
        names: &[String],
        values: &[ValueId],
        start: usize,
        label: &str,
    ) -> Result<(), OnnxError> {
        let mut named = HashSet::new();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let Some(&v) = values.get(i) else {
                return Err(OnnxError::InvalidModel(format!(
                    "node `{label}` has {} outputs, but the operator yields {}",
                    names.len(),
                    values.len()
                )));
            };
            let v = if v.index() >= start && named.insert(v) {
                v
            } else if let Some(t) = self.graph.constant_of(v).cloned() {
                // A constant reused under another name: a copy keeps it a constant.
                self.graph.add_named_constant(None, t)
            } else {
                let ty = self.graph.value(v).ty.clone();
                let n = self.graph.push_node(
                    Op::Unary(UnaryOp::Identity),
                    vec![Some(v)],
                    vec![ty],
                    Some(format!("{label}/{name}")),
                );
                let Some(&out) = self.graph.node(n).outputs.first() else {
                    return Err(OnnxError::InvalidModel(format!(
                        "node `{label}`: no output for `{name}`"
                    )));
                };
                out
            };
            self.graph.values[v].name = Some(format!("{}{name}", scope.prefix));
            define(scope, name, Some(v))?;
        }
        Ok(())
    }

    fn inline_function(
        &mut self,
        f: &'m FunctionProto,
        call: &NodeProto,
        label: &str,
        inputs: Vec<Option<ValueId>>,
        num_outputs: usize,
        caller: &Scope,
    ) -> Result<Vec<ValueId>, OnnxError> {
        let key = (
            normalize_domain(f.domain.as_deref()),
            f.name.clone().unwrap_or_default(),
            f.overload.clone().unwrap_or_default(),
        );
        if self.inlining.contains(&key) {
            return Err(OnnxError::InvalidModel(format!(
                "node `{label}`: function `{}` calls itself",
                key.1
            )));
        }
        self.inlined_nodes = self.inlined_nodes.saturating_add(f.node.len());
        if self.inlining.len() >= MAX_INLINE_DEPTH || self.inlined_nodes > MAX_INLINED_NODES {
            return Err(OnnxError::InvalidModel(format!(
                "node `{label}`: model-local functions expand to too many nodes \
                 (more than {MAX_INLINE_DEPTH} levels or {MAX_INLINED_NODES} nodes)"
            )));
        }
        let mut opsets = caller.opsets.clone();
        opsets.extend(opset_map(&f.opset_import)?);
        let mut scope = Scope {
            values: HashMap::new(),
            opsets,
            prefix: format!("{label}/"),
        };
        for (i, formal) in f.input.iter().enumerate() {
            if !formal.is_empty() {
                scope
                    .values
                    .insert(formal.clone(), inputs.get(i).copied().flatten());
            }
        }
        let body: Vec<NodeProto> = f
            .node
            .iter()
            .map(|n| NodeProto {
                attribute: bind_attributes(&n.attribute, &call.attribute, &f.attribute_proto),
                ..n.clone()
            })
            .collect();
        self.inlining.push(key);
        let result = self.import_nodes(&body, &mut scope);
        self.inlining.pop();
        result?;
        let mut out = Vec::with_capacity(num_outputs);
        for i in 0..num_outputs {
            let v = f
                .output
                .get(i)
                .and_then(|formal| scope.values.get(formal).copied().flatten());
            match v {
                Some(v) => out.push(v),
                None => {
                    return Err(OnnxError::InvalidModel(format!(
                        "node `{label}`: function `{}` does not produce output {i}",
                        f.name.as_deref().unwrap_or("")
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// One ONNX node being mapped: its operands, attributes and opset, and the ways to emit IR.
pub(crate) struct NodeCtx<'a, 'm> {
    imp: &'a mut Importer<'m>,
    /// The node's label for errors (name or `<op_type>#<index>`, with function call path).
    pub(crate) label: &'a str,
    /// The node's ONNX name, kept on the IR node that yields its outputs.
    pub(crate) name: Option<String>,
    /// The ONNX operator.
    pub(crate) op_type: &'a str,
    /// The default domain's opset version in effect.
    pub(crate) opset: i64,
    /// The node's attributes.
    pub(crate) attrs: NodeAttrs<'a>,
    /// Operands (`None` = absent).
    pub(crate) inputs: Vec<Option<ValueId>>,
    /// How many outputs the node uses (trailing unused ones dropped).
    pub(crate) num_outputs: usize,
    /// How many outputs the node lists, unused ones included (Split's count is semantic).
    pub(crate) declared_outputs: usize,
    /// The opset version of each domain in effect (for subgraphs).
    opsets: &'a HashMap<String, i64>,
    /// The values visible where the node is (for subgraphs).
    outer: &'a HashMap<String, Option<ValueId>>,
}

impl<'a> NodeCtx<'a, '_> {
    /// Operand `i`, when present.
    pub(crate) fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }

    /// Operand `i`, which the operator requires.
    pub(crate) fn required(&self, i: usize) -> Result<ValueId, OnnxError> {
        self.input(i).ok_or_else(|| {
            self.attrs
                .err(&format!("input {i}"), "this operand is required but absent")
        })
    }

    /// The type of a value.
    pub(crate) fn ty(&self, v: ValueId) -> &TensorType {
        &self.imp.graph.value(v).ty
    }

    /// The constant tensor behind a value, if it is one.
    pub(crate) fn constant_of(&self, v: ValueId) -> Option<&Tensor> {
        self.imp.graph.constant_of(v)
    }

    /// The directory of the model file, for external data.
    pub(crate) fn model_dir(&self) -> Option<&Path> {
        self.imp.model_dir
    }

    /// An unshared constant (for a `Constant` node's output, which gets a name).
    pub(crate) fn fresh_constant(&mut self, t: Tensor) -> ValueId {
        self.imp.graph.add_named_constant(None, t)
    }

    /// A (shared) constant operand.
    pub(crate) fn constant(&mut self, t: Tensor) -> ValueId {
        self.imp.graph.add_constant(t)
    }

    /// A 1-D i64 constant.
    pub(crate) fn const_i64(&mut self, values: &[i64]) -> Result<ValueId, OnnxError> {
        let t = Tensor::from_slice(&[values.len()], values).map_err(|e| self.ir_err(e.into()))?;
        Ok(self.constant(t))
    }

    /// Wraps an IR error with this node.
    pub(crate) fn ir_err(&self, source: IrError) -> OnnxError {
        OnnxError::Ir {
            node: self.label.to_string(),
            source: Box::new(source),
        }
    }

    fn push(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        num_outputs: usize,
        name: Option<String>,
    ) -> Result<Vec<ValueId>, OnnxError> {
        let at = At {
            node: name.clone().unwrap_or_else(|| self.label.to_string()),
            op: op.name(),
        };
        if let Some(tensors) = self.try_fold(&op, &at, &inputs, num_outputs) {
            return Ok(tensors
                .into_iter()
                .map(|t| self.imp.graph.add_named_constant(None, t))
                .collect());
        }
        let graph = &self.imp.graph;
        let operands: Vec<Option<Operand<'_>>> = inputs
            .iter()
            .map(|i| {
                i.map(|v| Operand {
                    ty: &graph.value(v).ty,
                    value: graph.constant_of(v),
                })
            })
            .collect();
        let types =
            (self.imp.infer)(&op, &at, &operands, num_outputs).map_err(|e| self.ir_err(e))?;
        if types.len() != num_outputs {
            return Err(self.ir_err(IrError::Arity {
                at,
                what: "outputs",
                expected: types.len().to_string(),
                actual: num_outputs,
            }));
        }
        let id = self.imp.graph.push_node(op, inputs, types, name);
        Ok(self.imp.graph.node(id).outputs.clone())
    }

    /// Shape arithmetic on constants, folded at import so that later shapes stay static:
    /// `Shape`/`Size` of a statically shaped value, and small ops whose operands are all
    /// small constants (evaluated by the reference interpreter). `None` leaves the node be.
    fn try_fold(
        &self,
        op: &Op,
        at: &At,
        inputs: &[Option<ValueId>],
        num_outputs: usize,
    ) -> Option<Vec<Tensor>> {
        let graph = &self.imp.graph;
        let first = inputs.first().copied().flatten();
        let static_dims = first.and_then(|v| graph.value(v).ty.shape.as_static());
        match (op, static_dims) {
            (Op::Shape { start, end }, Some(dims)) => {
                let rank = dims.len() as i64;
                let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
                let (s, e) = (clamp(*start), clamp(end.unwrap_or(rank)));
                let dims: Vec<i64> = dims
                    .get(s..e.max(s))?
                    .iter()
                    .map(|&d| i64::try_from(d).ok())
                    .collect::<Option<_>>()?;
                return Tensor::from_slice(&[dims.len()], &dims)
                    .ok()
                    .map(|t| vec![t]);
            }
            (Op::Size {}, Some(dims)) => {
                let n = tessera_ir::shape::checked_product(&dims)?;
                return Some(vec![Tensor::scalar(i64::try_from(n).ok()?)]);
            }
            _ => {}
        }
        let foldable = matches!(
            op,
            Op::Unary(_)
                | Op::Binary(_)
                | Op::Variadic(_)
                | Op::Reduce { .. }
                | Op::Cast { .. }
                | Op::Shape { .. }
                | Op::Size {}
                | Op::Gather { .. }
                | Op::Slice {}
                | Op::Concat { .. }
                | Op::Squeeze {}
                | Op::Unsqueeze {}
                | Op::Reshape { .. }
                | Op::Flatten { .. }
                | Op::Where {}
                | Op::Clip {}
        );
        if !foldable || first.is_none() {
            return None;
        }
        let tensors: Vec<Option<&Tensor>> = inputs
            .iter()
            .map(|i| match i {
                None => Some(None),
                Some(v) => graph.constant_of(*v).map(Some),
            })
            .collect::<Option<_>>()?;
        let total: usize = tensors.iter().flatten().map(|t| t.len()).sum();
        if tensors.iter().flatten().any(|t| t.len() > FOLD_LIMIT) || total > 4 * FOLD_LIMIT {
            return None;
        }
        let elementwise = matches!(
            op,
            Op::Unary(_) | Op::Binary(_) | Op::Variadic(_) | Op::Where {} | Op::Clip {}
        );
        if elementwise && broadcast_volume(&tensors).is_none_or(|n| n > 16 * FOLD_LIMIT) {
            return None;
        }
        let out = tessera_ir::interp::eval_op(op, at, &tensors, num_outputs).ok()?;
        (out.len() == num_outputs).then_some(out)
    }

    /// The graph attribute `name`, when present.
    pub(crate) fn graph_attr(&self, name: &str) -> Result<Option<&'a GraphProto>, OnnxError> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(a) => {
                a.g.as_deref()
                    .map(Some)
                    .ok_or_else(|| self.attrs.err(name, "expected a graph attribute"))
            }
        }
    }

    /// Imports subgraph `g` once (FlexAttention's modifiers, one iteration of an unrolled
    /// Scan): its formal inputs bound to `inputs`, the enclosing graph's values visible, its
    /// nodes labelled `<label>/<prefix>/...`; returns its outputs.
    pub(crate) fn inline_graph(
        &mut self,
        g: &GraphProto,
        inputs: &[ValueId],
        prefix: &str,
    ) -> Result<Vec<ValueId>, OnnxError> {
        let formals: Vec<&str> = g
            .input
            .iter()
            .map(|i| i.name.as_deref().unwrap_or(""))
            .collect();
        if formals.len() != inputs.len() {
            return Err(self.attrs.err(
                prefix,
                format!(
                    "the subgraph takes {} input(s), the operator binds {}",
                    formals.len(),
                    inputs.len()
                ),
            ));
        }
        let mut scope = Scope {
            values: self.outer.clone(),
            opsets: self.opsets.clone(),
            prefix: format!("{}/{prefix}/", self.label),
        };
        for t in &g.initializer {
            let n = t.name.clone().unwrap_or_default();
            let tensor = tensor_from_proto(t, &n, self.imp.model_dir)?;
            let v = self
                .imp
                .graph
                .add_named_constant(Some(format!("{}{n}", scope.prefix)), tensor);
            scope.values.insert(n, Some(v));
        }
        for (formal, &v) in formals.iter().zip(inputs) {
            scope.values.insert(formal.to_string(), Some(v));
        }
        self.imp.import_nodes(&g.node, &mut scope)?;
        g.output
            .iter()
            .map(|o| {
                let name = o.name.as_deref().unwrap_or_default();
                match scope.values.get(name) {
                    Some(Some(v)) => Ok(*v),
                    _ => Err(OnnxError::MissingValue {
                        name: name.to_string(),
                        node: format!("{}/{prefix}", self.label),
                    }),
                }
            })
            .collect()
    }

    /// Emits the node that yields the ONNX node's outputs (it keeps the node's name).
    pub(crate) fn emit(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        num_outputs: usize,
    ) -> Result<Vec<ValueId>, OnnxError> {
        let name = self.name.clone();
        self.push(op, inputs, num_outputs, name)
    }

    /// Emits a helper node of a composition, named `<label>/<suffix>`; returns its output.
    pub(crate) fn emit_aux(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        suffix: &str,
    ) -> Result<ValueId, OnnxError> {
        let name = format!("{}/{suffix}", self.label);
        let outs = self.push(op, inputs, 1, Some(name))?;
        outs.first()
            .copied()
            .ok_or_else(|| self.attrs.err("outputs", "the operator yields no output"))
    }
}
