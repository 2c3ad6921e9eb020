// kernel @special
@group(0) @binding(0) var<storage, read> p0_x: array<f64>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<f64>;
fn tz_erf(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5f) {
    let z = x * x;
    return x * 1.1283791671f * (1.0f + z * (-0.3333333333f + z * (0.1f + z * (-0.0238095238f + z * (0.0046296296f + z * -0.0007575758f)))));
  }
  if (a > 4.0f) { return sign(x); }
  // erfc by a Chebyshev-fitted exponential (fractional error below 1.2e-7).
  let t = 1.0f / (1.0f + 0.5f * a);
  let y = t * exp(-a * a - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return sign(x) * (1.0f - y);
}
fn tz_inf_f64() -> f64 {
  return f64(bitcast<f32>(0x7f800000u + tz_zero));
}
fn tz_isnan_f64(x: f64) -> bool {
  return (bitcast<u64>(x) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu;
}
var<private> tz_zero: u32 = 0u;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  let v1_v: f64 = p0_x[v0_i];
  p1_y[v0_i] = select(fma(v1_v, -5e-1lf, f64(tz_erf(f32(v1_v)))), tz_inf_f64(), tz_isnan_f64(v1_v));
}
