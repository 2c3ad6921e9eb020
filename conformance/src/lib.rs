//! tessera-conformance: the cross-backend conformance suite (case catalogue, tolerances,
//! runners, ONNX node tests, reports). Empty until the conformance work lands.
