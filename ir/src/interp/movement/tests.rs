//! Tests of the movement operators.
