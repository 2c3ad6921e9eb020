//! Keeps `docs/operators.md` equal to what the operator table in `op.rs` says (names,
//! attributes, defaults). Re-bless with `TESSERA_BLESS=1 cargo test -p tessera-ir --test operator_docs`.

use tessera_ir::attr::Attr;
use tessera_ir::op::{AttrError, Op};

fn attr_text(a: &Attr) -> String {
    match a {
        Attr::Int(v) => v.to_string(),
        Attr::Float(v) => format!("{v:?}"),
        Attr::Bool(v) => v.to_string(),
        Attr::Ints(v) => format!("{v:?}"),
        Attr::Floats(v) => format!("{v:?}"),
        Attr::Str(s) => format!("{s:?}"),
        Attr::Ident(s) => s.clone(),
        Attr::DType(d) => d.to_string(),
        Attr::Tensor(t) => format!("{}{:?} tensor", t.dtype(), t.shape()),
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Operators\n\nEvery graph operator by its text-form name, with its attributes and their defaults\n\
         (generated from `ir/src/op.rs` by `ir/tests/operator_docs.rs`; semantics are ONNX's).\n\
         Operands and results are described on each `Op` variant in the API docs.\n\n\
         | operator | attributes (default) |\n|---|---|\n",
    );
    for name in Op::all_names() {
        let attrs = match Op::from_parts(name, Vec::new()) {
            Ok(op) => op
                .attributes()
                .iter()
                .map(|(k, v)| format!("`{k}` ({})", attr_text(v)))
                .collect::<Vec<_>>()
                .join(", "),
            Err(AttrError::Missing { attr, .. }) => format!("`{attr}` (required)"),
            Err(e) => panic!("{name}: {e}"),
        };
        let attrs = if attrs.is_empty() {
            "—".to_string()
        } else {
            attrs
        };
        out.push_str(&format!("| `{name}` | {attrs} |\n"));
    }
    out
}

#[test]
fn operators_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operators.md");
    let want = render();
    if std::env::var_os("TESSERA_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/operators.md is stale: run with TESSERA_BLESS=1 to update it"
    );
}
