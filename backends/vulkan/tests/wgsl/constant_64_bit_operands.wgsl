// kernel @wide_consts
@group(0) @binding(0) var<storage, read> p0_x: array<f64>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<f64>;
@group(0) @binding(2) var<storage, read_write> p2_z: array<f32>;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  let tz_c0: f64 = -2e0lf;
  let tz_c1: i64 = 3li;
  let tz_c2: u64 = 4lu;
  p1_y[v0_i] = ((((p0_x[v0_i]) + (1e0lf))) + (((abs(tz_c0)) + (((f64(tz_c1)) * (f64(tz_c2)))))));
  let tz_c3: u64 = 5lu;
  let tz_c4: f64 = 2.5e-1lf;
  let tz_c5: f64 = 5e-1lf;
  p2_z[v0_i] = f32(select(tz_c5, tz_c4, ((tz_c3) != u64(0))));
}
