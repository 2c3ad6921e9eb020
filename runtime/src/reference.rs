//! The `reference` backend: runs graphs on the IR interpreter, the oracle every other backend
//! is compared with. Always available.

use crate::backend::{Availability, Backend, Executable, NamedTensors, OpSupport};
use crate::error::RuntimeError;
use tessera_ir::{DType, Graph, Op, Tensor, interp, verify};

/// The reference interpreter as a backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceBackend;

impl Backend for ReferenceBackend {
    fn name(&self) -> &str {
        "reference"
    }

    fn availability(&self) -> Availability {
        Availability::Available("host interpreter (exact, f64 accumulation)".into())
    }

    /// The interpreter defines every operator's semantics, so it runs every one natively; a
    /// dtype an operator does not accept is refused by shape inference, not by the backend.
    fn op_support(&self, _op: &Op, _input_dtypes: &[DType]) -> OpSupport {
        OpSupport::Native
    }

    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        verify::verify(graph)?;
        Ok(Box::new(ReferenceExecutable {
            graph: graph.clone(),
        }))
    }
}

struct ReferenceExecutable {
    graph: Graph,
}

impl Executable for ReferenceExecutable {
    fn run(&self, inputs: &NamedTensors) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        let outs = interp::evaluate(&self.graph, inputs)?;
        Ok(self
            .graph
            .outputs
            .iter()
            .map(|&v| self.graph.value_label(v))
            .zip(outs)
            .collect())
    }
}
