// kernel @add_relu
@group(0) @binding(0) var<storage, read> p0_a: array<f32>;
@group(0) @binding(1) var<storage, read> p1_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> p2_out: array<f32>;
fn tz_isnan_f32(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
fn tz_max_f32(a: f32, b: f32) -> f32 {
  if (tz_isnan_f32(a)) { return a; }
  if (tz_isnan_f32(b)) { return b; }
  return max(a, b);
}
@compute @workgroup_size(16, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = lid.x;
  if (((v0_i) < (10u))) {
    p2_out[v0_i] = tz_max_f32(((p0_a[v0_i]) + (p1_b[v0_i])), 0e0f);
  }
}
