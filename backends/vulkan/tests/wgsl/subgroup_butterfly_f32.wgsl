// kernel @butterfly
@group(0) @binding(0) var<storage, read> p0_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> p2_odd: array<atomic<u32>>;
fn st_p2_odd(i: u32, v: bool) {
  let sh = (i % 4u) * 8u;
  atomicAnd(&p2_odd[i / 4u], ~(0xffu << sh));
  atomicOr(&p2_odd[i / 4u], (select(0u, 1u, v)) << sh);
}
@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_l: u32 = lid.x;
  let v1_i: u32 = ((((wid.x) * (8u))) + (v0_l));
  let v2_v: f32 = p0_x[v1_i];
  let v3_s4: f32 = subgroupShuffleXor(v2_v, 4u);
  let v4_a4: f32 = ((v2_v) + (v3_s4));
  let v5_s2: f32 = subgroupShuffleXor(v4_a4, 2u);
  let v6_a2: f32 = ((v4_a4) + (v5_s2));
  let v7_s1: f32 = subgroupShuffleXor(v6_a2, 1u);
  let v8_b: bool = (subgroupShuffleXor(select(0u, 1u, ((((v0_l) & (1u))) == (0u))), 1u) != 0u);
  st_p2_odd(v1_i, v8_b);
  if (((v0_l) == (0u))) {
    p1_y[wid.x] = ((v6_a2) + (v7_s1));
  }
}
