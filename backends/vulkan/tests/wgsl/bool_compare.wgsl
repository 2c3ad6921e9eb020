// kernel @cmp
@group(0) @binding(0) var<storage, read> p0_a: array<u32>;
@group(0) @binding(1) var<storage, read> p1_b: array<u32>;
@group(0) @binding(2) var<storage, read_write> p2_y: array<atomic<u32>>;
fn ld_p0_a(i: u32) -> u32 {
  let raw = (p0_a[i / 4u] >> ((i % 4u) * 8u)) & 0xffu;
  return raw;
}
fn ld_p1_b(i: u32) -> u32 {
  let raw = (p1_b[i / 4u] >> ((i % 4u) * 8u)) & 0xffu;
  return raw;
}
fn st_p2_y(i: u32, v: bool) {
  let sh = (i % 4u) * 8u;
  atomicAnd(&p2_y[i / 4u], ~(0xffu << sh));
  atomicOr(&p2_y[i / 4u], (select(0u, 1u, v)) << sh);
}
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  st_p2_y(v0_i, ((((((ld_p0_a(v0_i)) + (200u))) & 0xffu)) < (ld_p1_b(v0_i))));
}
