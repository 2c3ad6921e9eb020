// kernel @sum64
@group(0) @binding(0) var<storage, read> p0_x: array<i64>;
@group(0) @binding(1) var<storage, read_write> p1_y: array<i64>;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  var v0_acc: i64 = 0li;
  {
    let end_v1_k: i32 = 6i;
    var v1_k: i32 = 0i;
    while (v1_k < end_v1_k) {
      v0_acc = ((v0_acc) + (p0_x[u32(v1_k)]));
      if (end_v1_k - v1_k <= 1i) { break; }
      v1_k = v1_k + 1i;
    }
  }
  p1_y[u32(0i)] = v0_acc;
}
