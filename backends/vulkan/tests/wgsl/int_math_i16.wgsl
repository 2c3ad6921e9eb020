// kernel @imath
@group(0) @binding(0) var<storage, read> p0_a: array<u32>;
@group(0) @binding(1) var<storage, read> p1_b: array<u32>;
@group(0) @binding(2) var<storage, read_write> p2_y: array<atomic<u32>>;
fn ld_p0_a(i: u32) -> i32 {
  let raw = (p0_a[i / 2u] >> ((i % 2u) * 16u)) & 0xffffu;
  return bitcast<i32>(raw << 16u) >> 16u;
}
fn ld_p1_b(i: u32) -> i32 {
  let raw = (p1_b[i / 2u] >> ((i % 2u) * 16u)) & 0xffffu;
  return bitcast<i32>(raw << 16u) >> 16u;
}
fn st_p2_y(i: u32, v: i32) {
  let sh = (i % 2u) * 16u;
  atomicAnd(&p2_y[i / 2u], ~(0xffffu << sh));
  atomicOr(&p2_y[i / 2u], (bitcast<u32>(v) & 0xffffu) << sh);
}
fn tz_mod_i32(a: i32, b: i32) -> i32 {
  let r = a % b;
  if (r != i32(0) && ((r < i32(0)) != (b < i32(0)))) { return r + b; }
  return r;
}
fn tz_nz_i32(b: i32) -> i32 {
  if (b == i32(0)) {
    atomicOr(&tz_status, 1u);
    return i32(1);
  }
  return b;
}
fn tz_pow_i32(x: i32, e0: i32) -> i32 {
  var e = e0;
  if (e < i32(0)) {
    if (x == i32(1)) { return i32(1); }
    if (x == -i32(1)) { return select(i32(1), -i32(1), (e % i32(2)) != i32(0)); }
    return i32(0);
  }
  var acc = i32(1);
  var sq = x;
  while (e > i32(0)) {
    if ((e & i32(1)) == i32(1)) { acc = acc * sq; }
    sq = sq * sq;
    e = e >> 1u;
  }
  return acc;
}
@group(0) @binding(3) var<storage, read_write> tz_status: atomic<u32>;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v0_i: u32 = wid.x;
  let v1_x: i32 = ld_p0_a(v0_i);
  let v2_e: i32 = ld_p1_b(v0_i);
  st_p2_y(v0_i, ((((((tz_mod_i32(v1_x, tz_nz_i32(v2_e))) << 16u) >> 16u) + (((tz_pow_i32(v1_x, v2_e)) << 16u) >> 16u))) << 16u) >> 16u);
}
