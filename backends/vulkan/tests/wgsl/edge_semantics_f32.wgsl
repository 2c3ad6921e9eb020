// kernel @edges
@group(0) @binding(0) var<storage, read> p0_u: array<u32>;
@group(0) @binding(1) var<storage, read> p1_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> p2_w: array<i64>;
@group(0) @binding(3) var<storage, read_write> p3_y: array<f32>;
fn tz_acosh(x: f32) -> f32 {
  if (x < 1.0f) { return tz_nan_f32(); }
  if (x >= 65536.0f) { return log(x) + 0.693147181f; }
  return acosh(x);
}
fn tz_asinh(x: f32) -> f32 {
  let a = abs(x);
  if (a >= 65536.0f) { return sign(x) * (log(a) + 0.693147181f); }
  return asinh(x);
}
fn tz_atan(x: f32) -> f32 {
  if (tz_isnan_f32(x)) { return x; }
  return atan(x);
}
fn tz_fmod_f32(a: f32, b: f32) -> f32 {
  let bi = (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u;
  let ai = (bitcast<u32>(a) & 0x7fffffffu) == 0x7f800000u;
  if (bi && !ai) { return a; }
  return a % b;
}
fn tz_isnan_f32(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
fn tz_log(x: f32) -> f32 {
  if (x > 0.0f && x < 1.17549435e-38f) { return log(x * 16777216.0f) - 16.6355323f; }
  return log(x);
}
fn tz_nan_f32() -> f32 {
  return bitcast<f32>(0x7fc00000u + tz_zero);
}
fn tz_pymod_f32(a: f32, b: f32) -> f32 {
  let r = tz_fmod_f32(a, b);
  if (tz_isnan_f32(r) || tz_isnan_f32(b)) { return r + b; }
  if (r == f32(0)) { return select(f32(0), -f32(0), b < f32(0)); }
  if ((r < f32(0)) != (b < f32(0))) { return r + b; }
  return r;
}
fn tz_u32_to_i64(x: u32) -> i64 {
  return i64(bitcast<i32>(x & 0x7fffffffu)) + select(0li, 2147483648li, x >= 0x80000000u);
}
var<private> tz_zero: u32 = 0u;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  let v1_v: f32 = p1_x[v0_i];
  p2_w[v0_i] = tz_u32_to_i64(p0_u[v0_i]);
  p3_y[v0_i] = ((((tz_pymod_f32(v1_v, 2e0f)) + (tz_asinh(v1_v)))) + (((tz_acosh(v1_v)) + (((tz_atan(v1_v)) + (tz_log(v1_v)))))));
}
