// kernel @reverse
@group(0) @binding(0) var<storage, read> p0_x: array<i32>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<i32>;
var<workgroup> s0_tile: array<i32, 4>;
@compute @workgroup_size(4, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_l: u32 = lid.x;
  s0_tile[v0_l] = p0_x[v0_l];
  workgroupBarrier();
  p1_y[v0_l] = s0_tile[((3u) - (v0_l))];
}
