//! Reference semantics of the movement operators (to be filled in).

use crate::error::{At, Result};
use crate::op::Op;
use crate::tensor::Tensor;

/// Evaluates one movement operator.
#[allow(unused_variables)]
pub fn eval(
    op: &Op,
    at: &At,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    Err(super::values::eval_err(at, "not implemented yet"))
}
