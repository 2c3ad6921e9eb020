//! Typed reads of a node's ONNX attributes, with errors that name the node, operator and
//! attribute.

use super::error::OnnxError;
use super::proto::{AttributeProto, AttributeType};
use super::tensor::tensor_from_proto;
use std::path::Path;
use tessera_ir::Tensor;

/// The attributes of one node, plus what errors need to name it.
#[derive(Clone, Copy)]
pub(crate) struct NodeAttrs<'a> {
    attrs: &'a [AttributeProto],
    node: &'a str,
    op_type: &'a str,
}

/// The kind of an attribute: its declared type, or (old files) the field that is populated.
fn kind_of(a: &AttributeProto) -> AttributeType {
    match a.r#type.and_then(|t| AttributeType::try_from(t).ok()) {
        Some(t) if t != AttributeType::Undefined => t,
        _ if a.f.is_some() => AttributeType::Float,
        _ if a.i.is_some() => AttributeType::Int,
        _ if a.s.is_some() => AttributeType::String,
        _ if a.t.is_some() => AttributeType::Tensor,
        _ if !a.floats.is_empty() => AttributeType::Floats,
        _ if !a.ints.is_empty() => AttributeType::Ints,
        _ if !a.strings.is_empty() => AttributeType::Strings,
        _ if !a.tensors.is_empty() => AttributeType::Tensors,
        _ => AttributeType::Undefined,
    }
}

impl<'a> NodeAttrs<'a> {
    /// Wraps `attrs` of node `node` (a label) running `op_type`.
    pub(crate) fn new(attrs: &'a [AttributeProto], node: &'a str, op_type: &'a str) -> Self {
        NodeAttrs {
            attrs,
            node,
            op_type,
        }
    }

    /// A `BadAttribute` error for `attribute`.
    pub(crate) fn err(&self, attribute: &str, reason: impl Into<String>) -> OnnxError {
        OnnxError::BadAttribute {
            node: self.node.to_string(),
            op_type: self.op_type.to_string(),
            attribute: attribute.to_string(),
            reason: reason.into(),
        }
    }

    /// The attribute called `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.attrs.iter().find(|a| a.name.as_deref() == Some(name))
    }

    fn wrong(&self, name: &str, expected: &str, a: &AttributeProto) -> OnnxError {
        self.err(
            name,
            format!(
                "expected {expected}, got an attribute of kind {:?}",
                kind_of(a)
            ),
        )
    }

    /// An int attribute.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if kind_of(a) == AttributeType::Int => Ok(Some(a.i.unwrap_or(0))),
            Some(a) => Err(self.wrong(name, "an int", a)),
        }
    }

    /// An int attribute with a default.
    pub(crate) fn int_or(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A 0/1 int attribute read as a bool.
    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, OnnxError> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.err(name, format!("expected 0 or 1, got {v}"))),
        }
    }

    /// A float attribute (an int is accepted and converted).
    pub(crate) fn float(&self, name: &str) -> Result<Option<f32>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match kind_of(a) {
                AttributeType::Float => Ok(Some(a.f.unwrap_or(0.0))),
                AttributeType::Int => Ok(Some(a.i.unwrap_or(0) as f32)),
                _ => Err(self.wrong(name, "a float", a)),
            },
        }
    }

    /// A float attribute with a default.
    pub(crate) fn float_or(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    /// A list-of-ints attribute.
    pub(crate) fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match kind_of(a) {
                AttributeType::Ints | AttributeType::Undefined => Ok(Some(a.ints.clone())),
                _ => Err(self.wrong(name, "a list of ints", a)),
            },
        }
    }

    /// A list-of-ints attribute, empty when absent.
    pub(crate) fn ints_or_empty(&self, name: &str) -> Result<Vec<i64>, OnnxError> {
        Ok(self.ints(name)?.unwrap_or_default())
    }

    /// A list-of-floats attribute (ints are accepted and converted).
    pub(crate) fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match kind_of(a) {
                AttributeType::Floats | AttributeType::Undefined => Ok(Some(a.floats.clone())),
                AttributeType::Ints => Ok(Some(a.ints.iter().map(|&v| v as f32).collect())),
                _ => Err(self.wrong(name, "a list of floats", a)),
            },
        }
    }

    /// A string attribute (UTF-8).
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if kind_of(a) == AttributeType::String => {
                let bytes = a.s.clone().unwrap_or_default();
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| self.err(name, "the string is not valid UTF-8"))
            }
            Some(a) => Err(self.wrong(name, "a string", a)),
        }
    }

    /// A string attribute with a default.
    pub(crate) fn string_or(&self, name: &str, default: &str) -> Result<String, OnnxError> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// A tensor attribute, decoded (external data resolved against `model_dir`).
    pub(crate) fn tensor(
        &self,
        name: &str,
        model_dir: Option<&Path>,
    ) -> Result<Option<Tensor>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if kind_of(a) == AttributeType::Tensor => {
                let t = a.t.clone().unwrap_or_default();
                let what = format!("{}.{name}", self.node);
                tensor_from_proto(&t, &what, model_dir).map(Some)
            }
            Some(a) => Err(self.wrong(name, "a tensor", a)),
        }
    }

    /// The name of every attribute present.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'a str> {
        self.attrs.iter().filter_map(|a| a.name.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_by_declared_or_populated_kind() {
        let list = vec![
            AttributeProto {
                i: Some(3),
                r#type: Some(AttributeType::Int as i32),
                ..attr("axis")
            },
            // No declared type: the populated field decides.
            AttributeProto {
                f: Some(0.5),
                ..attr("alpha")
            },
            AttributeProto {
                ints: vec![1, 2],
                r#type: Some(AttributeType::Ints as i32),
                ..attr("perm")
            },
            AttributeProto {
                s: Some(b"SAME_UPPER".to_vec()),
                ..attr("auto_pad")
            },
            AttributeProto {
                s: Some(vec![0xff]),
                r#type: Some(AttributeType::String as i32),
                ..attr("bad")
            },
            AttributeProto {
                i: Some(2),
                ..attr("flag")
            },
        ];
        let a = NodeAttrs::new(&list, "n", "Op");
        assert_eq!(a.int("axis").unwrap(), Some(3));
        assert_eq!(a.int_or("missing", 7).unwrap(), 7);
        assert_eq!(a.float("alpha").unwrap(), Some(0.5));
        assert_eq!(a.float("axis").unwrap(), Some(3.0));
        assert_eq!(a.ints("perm").unwrap(), Some(vec![1, 2]));
        assert_eq!(a.floats("perm").unwrap(), Some(vec![1.0, 2.0]));
        assert_eq!(a.string("auto_pad").unwrap().as_deref(), Some("SAME_UPPER"));
        assert!(matches!(
            a.int("alpha"),
            Err(OnnxError::BadAttribute { .. })
        ));
        assert!(matches!(
            a.string("bad"),
            Err(OnnxError::BadAttribute { .. })
        ));
        assert!(matches!(
            a.bool_or("flag", false),
            Err(OnnxError::BadAttribute { .. })
        ));
        assert!(matches!(
            a.ints("axis"),
            Err(OnnxError::BadAttribute { .. })
        ));
        assert_eq!(a.names().count(), 6);
    }
}
