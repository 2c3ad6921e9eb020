//! `tessera inspect`: what a model is (inputs, outputs, opsets, operators) and how each
//! compiled-in backend would run each of its operators.

use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;
use tessera::frontends::onnx::proto::ModelProto;
use tessera::runtime::OpSupport;
use tessera::{Error, Graph};

/// Prints the description of the model at `path`.
pub fn inspect(path: &Path) -> Result<(), Error> {
    if path.extension().and_then(|e| e.to_str()) == Some("onnx") {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let model = ModelProto::decode(bytes.as_slice()).map_err(|e| Error::Onnx {
            path: path.to_path_buf(),
            source: tessera::frontends::onnx::OnnxError::Decode(e.to_string()),
        })?;
        println!("model: {}", path.display());
        println!(
            "  ir_version {}, producer {}",
            model.ir_version.unwrap_or(0),
            model.producer_name.as_deref().unwrap_or("(none)")
        );
        for o in &model.opset_import {
            let domain = match o.domain.as_deref() {
                None | Some("") => "ai.onnx",
                Some(d) => d,
            };
            println!("  opset {domain} {}", o.version.unwrap_or(0));
        }
        if let Some(g) = &model.graph {
            let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
            for n in &g.node {
                *hist.entry(n.op_type.as_deref().unwrap_or("?")).or_default() += 1;
            }
            println!("ONNX operators ({} nodes):", g.node.len());
            for (op, n) in hist {
                println!("  {op:<28} {n}");
            }
        }
    }
    let graph = tessera::load_graph(path)?;
    describe(&graph);
    Ok(())
}

fn describe(graph: &Graph) {
    println!("graph `{}`:", graph.name);
    println!("  inputs:");
    for &v in &graph.inputs {
        println!("    {}: {}", graph.value_label(v), graph.value(v).ty);
    }
    println!("  outputs:");
    for &v in &graph.outputs {
        println!("    {}: {}", graph.value_label(v), graph.value(v).ty);
    }
    println!(
        "  constants: {} ({} bytes)",
        graph.constants.len(),
        graph
            .constants
            .iter()
            .map(|(_, t)| t.bytes().len())
            .sum::<usize>()
    );
    let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, n) in graph.nodes.iter() {
        *hist.entry(n.op.name()).or_default() += 1;
    }
    println!("Tessera operators ({} nodes):", graph.nodes.len());
    for (op, n) in &hist {
        println!("  {op:<28} {n}");
    }
    println!("backends:");
    let registry = tessera::registry();
    for (name, avail) in registry.list() {
        let Ok(backend) = registry.get(&name) else {
            println!(
                "  {name:<10} unavailable here ({})",
                match avail {
                    tessera::Availability::Unavailable(r) => r,
                    tessera::Availability::Available(_) => String::new(),
                }
            );
            continue;
        };
        let (mut native, mut fallback, mut unsupported) = (0, Vec::new(), Vec::new());
        for (_, n) in graph.nodes.iter() {
            let dtypes: Vec<_> = n
                .inputs
                .iter()
                .flatten()
                .map(|&v| graph.value(v).ty.dtype)
                .collect();
            match backend.op_support(&n.op, &dtypes) {
                OpSupport::Native => native += 1,
                OpSupport::Fallback(why) => fallback.push(format!("{} ({why})", n.op.name())),
                OpSupport::Unsupported(why) => unsupported.push(format!("{} ({why})", n.op.name())),
            }
        }
        println!(
            "  {name:<10} {native} native, {} host fallback, {} unsupported",
            fallback.len(),
            unsupported.len()
        );
        fallback.sort();
        fallback.dedup();
        unsupported.sort();
        unsupported.dedup();
        for f in fallback {
            println!("    fallback: {f}");
        }
        for u in unsupported {
            println!("    unsupported: {u}");
        }
    }
}
