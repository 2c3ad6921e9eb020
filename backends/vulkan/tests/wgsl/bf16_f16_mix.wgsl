enable f16;
// kernel @mix
@group(0) @binding(0) var<storage, read> p0_a: array<u32>;
@group(0) @binding(1) var<storage, read> p1_b: array<f16>;
@group(0) @binding(2) var<storage, read_write> p2_y: array<f16>;
fn ld_p0_a(i: u32) -> f32 {
  let raw = (p0_a[i / 2u] >> ((i % 2u) * 16u)) & 0xffffu;
  return bitcast<f32>(raw << 16u);
}
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  let v1_s: f32 = ((f32(ld_p0_a(v0_i))) + (f32(f32(p1_b[v0_i]))));
  p2_y[v0_i] = f16(f32(f16(exp(f32(f16(v1_s))))));
}
