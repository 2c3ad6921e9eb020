//! Reading the ONNX test-data files (`input_K.pb`, `output_K.pb`: one serialized
//! `TensorProto` each) and model files' node lists through the importer's protobuf types and its
//! own `TensorProto` → `Tensor` conversion (so element types, raw and typed data fields and the
//! typed errors are exactly the importer's).

use prost::Message;
use std::path::Path;
use tessera_frontends::onnx::proto::{ModelProto, TensorProto};
use tessera_frontends::onnx::{OnnxError, tensor_from_proto};
use tessera_ir::Tensor;

/// Decodes one serialized `TensorProto`; `what` names it in errors.
pub fn decode_tensor(bytes: &[u8], what: &str) -> Result<Tensor, OnnxError> {
    let tensor = decode_tensor_proto(bytes, what)?;
    tensor_from_proto(&tensor, what, None)
}

/// Decodes one serialized `TensorProto` without converting it.
pub fn decode_tensor_proto(bytes: &[u8], what: &str) -> Result<TensorProto, OnnxError> {
    TensorProto::decode(bytes).map_err(|e| OnnxError::Decode(format!("`{what}`: {e}")))
}

/// Reads and decodes the tensor file at `path`.
pub fn read_tensor(path: &Path) -> Result<Tensor, OnnxError> {
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let what = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    decode_tensor(&bytes, &what)
}

/// The `op_type` of each node of the main graph of the model file at `path`, in file order.
pub fn model_op_types(path: &Path) -> Result<Vec<String>, OnnxError> {
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let model =
        ModelProto::decode(bytes.as_slice()).map_err(|e| OnnxError::Decode(e.to_string()))?;
    Ok(model
        .graph
        .map(|g| {
            g.node
                .into_iter()
                .map(|n| n.op_type.unwrap_or_default())
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_frontends::onnx::proto::DataType;

    fn encoded(t: TensorProto) -> Vec<u8> {
        t.encode_to_vec()
    }

    #[test]
    fn typed_and_raw_tensors_decode() {
        let t = TensorProto {
            dims: vec![2, 2],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0, -2.0, 0.5, f32::NAN],
            name: Some("x".into()),
            ..Default::default()
        };
        let x = decode_tensor(&encoded(t), "input_0.pb").unwrap();
        assert_eq!(x.shape(), &[2, 2]);
        let v = x.to_vec::<f32>().unwrap();
        assert_eq!(&v[..3], &[1.0, -2.0, 0.5]);
        assert!(v[3].is_nan());

        let t = TensorProto {
            dims: vec![],
            data_type: Some(DataType::Int64 as i32),
            raw_data: Some((-7i64).to_le_bytes().to_vec()),
            ..Default::default()
        };
        let x = decode_tensor(&encoded(t), "output_0.pb").unwrap();
        assert_eq!(x, Tensor::scalar(-7i64));
    }

    #[test]
    fn errors_are_the_importers() {
        let t = TensorProto {
            dims: vec![1],
            data_type: Some(DataType::String as i32),
            string_data: vec![b"a".to_vec()],
            ..Default::default()
        };
        let err = decode_tensor(&encoded(t), "input_1.pb").unwrap_err();
        assert!(matches!(err, OnnxError::UnsupportedDType { .. }), "{err}");
        assert!(err.to_string().contains("input_1.pb"), "{err}");

        let t = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0],
            ..Default::default()
        };
        assert!(decode_tensor(&encoded(t), "x").is_err());
        assert!(matches!(
            decode_tensor(&[0xff, 0xff], "x"),
            Err(OnnxError::Decode(_))
        ));
    }
}
