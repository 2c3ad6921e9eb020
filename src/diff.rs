//! `tessera diff`: finds the first fused kernel whose results diverge from the reference
//! (see `tessera_conformance::diff`).

use std::collections::HashMap;
use std::path::Path;
use tessera::conformance::catalogue::{Domain, Rng, Values, generate};
use tessera::conformance::diff::diff;
use tessera::{Error, Tensor};

/// Runs the diff and prints it; an error when a kernel diverges (exit 1), so scripts can
/// bisect with it.
pub fn run(
    model: &Path,
    backend: &str,
    against: &str,
    given: &HashMap<String, Tensor>,
) -> Result<(), Error> {
    if against != "reference" {
        return Err(Error::Usage(format!(
            "--against `{against}`: only `reference` (the graph interpreter) is an oracle"
        )));
    }
    let graph = tessera::load_graph(model)?;
    let mut inputs = given.clone();
    for &v in &graph.inputs {
        let name = graph.value_label(v);
        if inputs.contains_key(&name) {
            continue;
        }
        let ty = &graph.value(v).ty;
        let dims = ty.shape.as_static().ok_or_else(|| {
            Error::Usage(format!(
                "input `{name}` has symbolic dims ({ty}): give it with --input NAME=FILE.npy"
            ))
        })?;
        let mut rng = Rng::from_name(&name);
        inputs.insert(
            name,
            generate(ty.dtype, &dims, Domain::Any, Values::Ordinary, &mut rng),
        );
    }
    let b = tessera::registry().get(backend)?;
    if let tessera::Availability::Unavailable(why) = b.availability() {
        return Err(Error::Usage(format!(
            "backend `{backend}` is unavailable here: {why}"
        )));
    }
    let compiled = b.as_compiled().ok_or_else(|| {
        Error::Usage(format!(
            "backend `{backend}` is an interpreter: it has no kernels to compare"
        ))
    })?;
    let report = diff(&graph, &inputs, compiled).map_err(|e| Error::Usage(e.to_string()))?;
    print!("{}", report.to_text());
    match report.first {
        Some(d) => Err(Error::Usage(format!(
            "kernel `{}` (step {}) diverges from the reference",
            d.kernel, d.step
        ))),
        None => Ok(()),
    }
}
