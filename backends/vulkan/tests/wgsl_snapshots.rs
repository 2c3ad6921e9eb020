//! WGSL snapshots: a fixed set of kernels rendered by [`VulkanTarget::offline`], compared with
//! the committed files in `tests/wgsl/` and checked by naga (the target validates every shader
//! it returns; this test validates the committed text again and writes SPIR-V from it).
//! `TESSERA_BLESS=1 cargo test -p tessera-vulkan --test wgsl_snapshots` rewrites the files.

use std::path::PathBuf;
use tessera_ir::kernel::{parse_kernel, verify_kernel};
use tessera_vulkan::VulkanTarget;

/// (file stem, kernel text).
const KERNELS: &[(&str, &str)] = &[
    (
        "add_relu_f32",
        "kernel @add_relu(%a: f32[10] read, %b: f32[10] read, %out: f32[10] write) grid [1] group [16] {
  let %i: u32 = local_id(0)
  if less(%i, 10:u32) {
    store %out[%i] = max(add(load %a[%i], load %b[%i]), 0.0:f32)
  }
}",
    ),
    (
        "reverse_shared_i32",
        "kernel @reverse(%x: i32[4] read, %y: i32[4] write) grid [1] group [4] {
  shared %tile: i32[4]
  let %l: u32 = local_id(0)
  store %tile[%l] = load %x[%l]
  barrier
  store %y[%l] = load %tile[sub(3:u32, %l)]
}",
    ),
    (
        "cast_f32_to_i8_packed",
        "kernel @to_i8(%x: f32[7] read, %y: i8[7] write) grid [1] group [8] {
  let %i: u32 = local_id(0)
  if less(%i, 7:u32) {
    store %y[%i] = cast<i8>(load %x[%i])
  }
}",
    ),
    (
        "bool_compare",
        "kernel @cmp(%a: u8[5] read, %b: u8[5] read, %y: bool[5] write) grid [5] group [1] {
  let %i: u32 = group_id(0)
  store %y[%i] = less(add(load %a[%i], 200:u8), load %b[%i])
}",
    ),
    (
        "bf16_f16_mix",
        "kernel @mix(%a: bf16[3] read, %b: f16[3] read, %y: f16[3] write) grid [3] group [1] {
  let %i: u32 = group_id(0)
  let %s: f32 = add(cast<f32>(load %a[%i]), cast<f32>(load %b[%i]))
  store %y[%i] = exp(cast<f16>(%s))
}",
    ),
    (
        "i64_accumulate",
        "kernel @sum64(%x: i64[6] read, %y: i64[1] write) grid [1] group [1] {
  local %acc: i64 = 0:i64
  loop %k: i32 = 0:i32 to 6:i32 step 1 serial {
    set %acc = add(%acc, load %x[%k])
  }
  store %y[0:i32] = %acc
}",
    ),
    (
        "int_math_i16",
        "kernel @imath(%a: i16[4] read, %b: i16[4] read, %y: i16[4] write) grid [4] group [1] {
  let %i: u32 = group_id(0)
  let %x: i16 = load %a[%i]
  let %e: i16 = load %b[%i]
  store %y[%i] = add(mod(%x, %e), pow(%x, %e))
}",
    ),
    (
        "subgroup_butterfly_f32",
        "kernel @butterfly(%x: f32[16] read, %y: f32[2] write, %odd: bool[16] write) grid [2] group [8] {
  let %l: u32 = local_id(0)
  let %i: u32 = add(mul(group_id(0), 8:u32), %l)
  let %v: f32 = load %x[%i]
  let %s4: f32 = shuffle_xor<4>(%v)
  let %a4: f32 = add(%v, %s4)
  let %s2: f32 = shuffle_xor<2>(%a4)
  let %a2: f32 = add(%a4, %s2)
  let %s1: f32 = shuffle_xor<1>(%a2)
  let %b: bool = shuffle_xor<1>(equal(bitwise_and(%l, 1:u32), 0:u32))
  store %odd[%i] = %b
  if equal(%l, 0:u32) {
    store %y[group_id(0)] = add(%a2, %s1)
  }
}",
    ),
    (
        "float_special_f64",
        "kernel @special(%x: f64[2] read, %y: f64[2] write) grid [2] group [1] {
  let %i: u32 = group_id(0)
  let %v: f64 = load %x[%i]
  store %y[%i] = select(is_nan(%v), inf:f64, fma(%v, -0.5:f64, erf(%v)))
}",
    ),
    (
        "constant_64_bit_operands",
        "kernel @wide_consts(%x: f64[4] read, %y: f64[4] write, %z: f32[4] write) grid [4] group [1] {
  let %i: u32 = group_id(0)
  store %y[%i] = add(add(load %x[%i], 1.0:f64), add(abs(-2.0:f64), mul(cast<f64>(3:i64), cast<f64>(4:u64))))
  store %z[%i] = cast<f32>(select(cast<bool>(5:u64), 0.25:f64, 0.5:f64))
}",
    ),
    (
        "edge_semantics_f32",
        "kernel @edges(%u: u32[4] read, %x: f32[4] read, %w: i64[4] write, %y: f32[4] write) grid [4] group [1] {
  let %i: u32 = group_id(0)
  let %v: f32 = load %x[%i]
  store %w[%i] = cast<i64>(load %u[%i])
  store %y[%i] = add(add(mod(%v, 2.0:f32), asinh(%v)), add(acosh(%v), add(atan(%v), log(%v))))
}",
    ),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wgsl")
}

#[test]
fn wgsl_matches_the_committed_snapshots() {
    let target = VulkanTarget::offline();
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let mut mismatched = Vec::new();
    for (stem, text) in KERNELS {
        let k = parse_kernel(text).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let info = verify_kernel(&k).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let wgsl = target
            .wgsl(&k, &info)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        // SPIR-V comes from the same validated module.
        let spv = target.spirv(&k, &info).unwrap();
        assert_eq!(
            spv.first(),
            Some(&0x0723_0203),
            "{stem}: SPIR-V magic number"
        );
        let path = dir().join(format!("{stem}.wgsl"));
        if bless {
            std::fs::write(&path, &wgsl).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != wgsl {
            mismatched.push(format!("{stem}:\n{wgsl}"));
        }
        // The committed text itself passes naga.
        let module = naga::front::wgsl::parse_str(&committed)
            .unwrap_or_else(|e| panic!("{stem}: {}", e.emit_to_string(&committed)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{stem}: {}", e.emit_to_string(&committed)));
    }
    assert!(
        mismatched.is_empty(),
        "WGSL differs from tests/wgsl (rerun with TESSERA_BLESS=1 if intended):\n{}",
        mismatched.join("\n")
    );
}

#[test]
fn sub_word_stores_are_atomic_and_f16_is_enabled() {
    let target = VulkanTarget::offline();
    let render = |text: &str| {
        let k = parse_kernel(text).unwrap();
        let info = verify_kernel(&k).unwrap();
        target.wgsl(&k, &info).unwrap()
    };
    let i8_store = render(KERNELS[2].1);
    assert!(i8_store.contains("array<atomic<u32>>"), "{i8_store}");
    assert!(i8_store.contains("atomicAnd") && i8_store.contains("atomicOr"));
    let f16 = render(KERNELS[4].1);
    assert!(f16.starts_with("enable f16;"), "{f16}");
    assert!(!f16.contains("enable subgroups"));
}

/// naga evaluates constant expressions while parsing and refuses several 64-bit ones
/// (`abs(0lf)`, `f64(0li)`, `bool(0lu)`): operands of an all-constant operation are bound
/// through typed `let`s (not constant in WGSL), other 64-bit literals stay inline.
#[test]
fn constant_64_bit_operands_are_bound_through_lets() {
    let (stem, text) = KERNELS
        .iter()
        .find(|(stem, _)| *stem == "constant_64_bit_operands")
        .unwrap();
    let k = parse_kernel(text).unwrap();
    let info = verify_kernel(&k).unwrap();
    let wgsl = VulkanTarget::offline().wgsl(&k, &info).unwrap();
    for bound in [
        "let tz_c0: f64 = -2e0lf;",
        ": i64 = 3li;",
        ": u64 = 4lu;",
        ": u64 = 5lu;",
    ] {
        assert!(wgsl.contains(bound), "{stem}: no `{bound}` in\n{wgsl}");
    }
    assert!(wgsl.contains("abs(tz_c0)"), "{stem}:\n{wgsl}");
    assert!(
        !wgsl.contains("f64(3li)") && !wgsl.contains("f64(4lu)"),
        "{wgsl}"
    );
    // A literal next to a loaded value is not constant-folded: it stays inline.
    assert!(wgsl.contains("(1e0lf)"), "{stem}:\n{wgsl}");
}

/// u32 → i64 goes through `tz_u32_to_i64` (naga's `i64(u32)` sign-extends), float `mod` and
/// the inverse hyperbolics, atan and log through their NaN- and range-safe helpers.
#[test]
fn edge_semantics_go_through_helpers() {
    let text = KERNELS
        .iter()
        .find(|(stem, _)| *stem == "edge_semantics_f32")
        .unwrap()
        .1;
    let k = parse_kernel(text).unwrap();
    let info = verify_kernel(&k).unwrap();
    let wgsl = VulkanTarget::offline().wgsl(&k, &info).unwrap();
    for call in [
        "tz_u32_to_i64(",
        "tz_pymod_f32(",
        "tz_asinh(",
        "tz_acosh(",
        "tz_atan(",
        "tz_log(",
    ] {
        assert!(wgsl.contains(call), "no `{call}` in\n{wgsl}");
    }
    assert!(!wgsl.contains("= i64(p0_u["), "{wgsl}");
}

#[test]
fn vectors_are_refused_with_a_typed_error() {
    let k = parse_kernel(
        "kernel @v(%a: f32[4] read, %y: f32[4] write) grid [1] group [1] {
  store %y[0:i32] = add(load<4> %a[0:i32], 1.0:f32x4)
}",
    )
    .unwrap();
    let info = verify_kernel(&k).unwrap();
    let err = VulkanTarget::offline().wgsl(&k, &info).unwrap_err();
    assert!(
        matches!(err, tessera_runtime::TargetError::Unsupported { .. }),
        "{err:?}"
    );
}

#[test]
fn f16_without_the_adapter_feature_is_packed_in_words() {
    let features = tessera_vulkan::wgsl::WgslFeatures {
        f16: false,
        ..tessera_vulkan::wgsl::WgslFeatures::ALL
    };
    let target = VulkanTarget::new(features, tessera_vulkan::GpuLimits::WEBGPU_DEFAULT);
    assert_eq!(
        tessera_runtime::Target::desc(&target).support(tessera_ir::DType::F16),
        tessera_ir::target::DTypeSupport::Emulated
    );
    let k = parse_kernel(KERNELS[4].1).unwrap();
    let info = verify_kernel(&k).unwrap();
    // `wgsl` validates with naga, here without the f16 capability.
    let wgsl = target.wgsl(&k, &info).unwrap();
    assert!(
        !wgsl.contains("enable f16") && !wgsl.contains("f16("),
        "{wgsl}"
    );
    assert!(wgsl.contains("pack2x16float") && wgsl.contains("unpack2x16float"));
}
