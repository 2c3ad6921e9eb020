//! The text form of the graph IR: a stable, readable, diffable printer and a parser whose
//! errors carry line:column. Snapshot tests, the CLI (`tessera run model.tir`) and people
//! writing graphs by hand all use it.
//!
//! # Example
//!
//! ```text
//! # comment to end of line
//! graph mlp(%x: f32[2, 3], %mask: bool[?batch, 3]) -> (%y, %x) {
//!   %w = const f32[3, 2] [1.0, -0.0, nan, inf, -inf, 2.5]
//!   %b2 = const f32[2] hex"0000803f000000c0"   # raw little-endian bytes: [1.0, -2.0]
//!   %0 = matmul(%x, %w) : f32[2, 2]
//!   %a, %b = split(%0, _) {axis = 1, num_outputs = 2} : f32[2, 1], f32[2, 1]
//!   %y = conv(%a, %w, _) {auto_pad = notset, dilations = [1, 1], group = 1,
//!                         kernel_shape = [], pads = [], strides = [1, 1]} @"/layer1/Conv" : f32[2, 1]
//!   %"odd name\n" = relu(%y) : f32[2, 1]
//!   return %y, %x
//! }
//! ```
//!
//! # Grammar
//!
//! Whitespace (newlines included) only separates tokens; `#` starts a comment to the end of
//! the line. The printer writes one statement per line, indented by two spaces.
//!
//! ```text
//! graph     := 'graph' NAME '(' [param {',' param}] ')' ['->' '(' [value {',' value}] ')']
//!              '{' {stmt} 'return' [value {',' value}] '}'
//! param     := value ':' type
//! stmt      := value {',' value} '=' 'const' tensor            # one value only
//!            | [value {',' value} '='] OP '(' [operand {',' operand}] ')'
//!              ['{' [attr {',' attr}] '}'] ['@' (STRING | WORD)] [':' type {',' type}]
//! operand   := value | '_'                                     # `_`: absent optional operand
//! type      := DTYPE '[' [dim {',' dim}] ']'                   # f32[], bool[?batch, 3]
//! dim       := INTEGER | '?' NAME | '?' STRING
//! tensor    := type ('[' [literal {',' literal}] ']' | 'hex"' HEXDIGITS '"')
//! literal   := ['-'] NUMBER | ['-'] 'nan' | ['-'] 'inf' | 'true' | 'false'
//! attr      := WORD '=' attrval
//! attrval   := ['-'] NUMBER | 'nan' | ['-'] 'inf' | 'true' | 'false' | STRING | WORD
//!            | '[' [number {',' number}] ']' | tensor
//! value     := '%' NAME | '%' STRING
//! ```
//!
//! - `NAME` is `[A-Za-z0-9_.:/-]+` not ending in `:` (so `%x: f32[2]` reads as `%x` then `:`);
//!   it may start with a digit. Other names are quoted: `%"a b"`. Strings use the escapes
//!   `\"`, `\\`, `\n`, `\t`, `\r`, `\0` and `\u{hex}`.
//! - `WORD` is `[A-Za-z_][A-Za-z0-9_]*`: op names ([`Op::name`](crate::op::Op::name)), dtype
//!   names ([`DType::name`](crate::dtype::DType::name)), attribute names and enum values. The
//!   graph's name is a word or a string.
//! - Numbers are decimal: `12`, `1.5`, `2e-3`, `1.0e10`. A number with `.` or an exponent is a
//!   float. Constants list every element in row-major order; float elements also accept
//!   integers. Integer elements must fit their dtype exactly (`u64` up to 18446744073709551615,
//!   `i64` down to -9223372036854775808). `bool` takes `true`/`false` (or `1`/`0`). A finite
//!   literal that rounds to infinity in its dtype is an error.
//! - `hex"..."` gives the tensor's raw little-endian bytes (two hex digits per byte); it is
//!   accepted for any size. The printer uses it above 64 elements and for NaNs whose sign or
//!   payload `nan` would lose, so printing keeps every constant bit for bit.
//! - Attributes: integer `axis = -1`, float `alpha = 0.01` (always printed with `.` or an
//!   exponent), `true`/`false`, lists `[0, 2, 1]` (ints) or `[0.5, 1.0]` (floats; one float
//!   entry makes the list floats), strings `"ij,jk->ik"`, bare words (enum values such as
//!   `notset`, dtypes such as `f16`, and `none`), and tensors `value = f32[1] [0.0]`. The
//!   attributes are those of [`Op::attributes`](crate::op::Op::attributes); the parser builds
//!   the op with [`Op::from_parts`](crate::op::Op::from_parts), so missing ones take their
//!   defaults.
//! - The `-> (...)` list in the header is optional when parsing; when present, `return` must
//!   list the same values.
//!
//! # Printing
//!
//! The printer writes the inputs, then every constant (in value order), then every node (in
//! node order) with all of its attributes in [`Op::attributes`](crate::op::Op::attributes)
//! order, its name after `@` and its output types. Floats are printed in the shortest form that
//! reads back to the same value of their dtype (f16 and bf16 included); `nan`, `inf`, `-inf` and
//! `-0.0` are kept. Every printed value name is unique: unnamed values get the smallest numbers
//! no value is named, and a repeated name gets `.1`, `.2`, ... in print order. Printing,
//! parsing and printing again gives the same text.
//!
//! # Parsing
//!
//! The parser builds the graph with [`Graph::add_input`], [`Graph::add_named_constant`],
//! [`Graph::push_node`] and [`Graph::add_output`]; every value keeps the name it is written
//! with. It checks the syntax, dtypes, operators and attributes, that each value is defined
//! once and before use, that a node gives one type per defined value, and that constants have
//! as many elements as their shape; it does not run shape inference or the verifier. Errors
//! carry the line and column of the offending token.

mod lexer;
mod literal;
mod parser;
mod printer;
#[cfg(test)]
mod tests;

use crate::error::ParseError;
use crate::graph::Graph;

/// Prints a graph in the text form.
pub fn print_graph(graph: &Graph) -> String {
    printer::print(graph)
}

/// Parses the text form into a graph; errors carry the line and column of the problem.
pub fn parse_graph(text: &str) -> Result<Graph, ParseError> {
    parser::parse(text)
}
