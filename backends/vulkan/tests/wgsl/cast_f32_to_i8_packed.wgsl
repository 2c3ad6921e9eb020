// kernel @to_i8
@group(0) @binding(0) var<storage, read> p0_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<atomic<u32>>;
fn st_p1_y(i: u32, v: i32) {
  let sh = (i % 4u) * 8u;
  atomicAnd(&p1_y[i / 4u], ~(0xffu << sh));
  atomicOr(&p1_y[i / 4u], (bitcast<u32>(v) & 0xffu) << sh);
}
fn tz_f32_to_i8(x: f32) -> i32 {
  if (tz_isnan_f32(x)) { return i32(0); }
  if (x >= 1.2700000762939453e2f) { return 127i; }
  return i32(clamp(trunc(x), -1.28e2f, 1.27e2f));
}
fn tz_isnan_f32(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = lid.x;
  if (((v0_i) < (7u))) {
    st_p1_y(v0_i, tz_f32_to_i8(p0_x[v0_i]));
  }
}
