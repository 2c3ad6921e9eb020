//! Subgroup operations on a real adapter (lavapipe in CI): the adapter's subgroup size reaches
//! the scheduler, and reductions that finish with `subgroupShuffleXor` butterflies (sum, max,
//! softmax, layer normalization over row lengths that are and are not multiples of 8 and 32)
//! match the reference interpreter; integer division by zero is a typed error naming the
//! kernel (the status word). Every test prints why and returns when no adapter is found
//! (and fails instead when `TESSERA_REQUIRE_VULKAN` is set).

use std::sync::{Arc, OnceLock};
use tessera_frontends::GraphBuilder;
use tessera_ir::{DType, Graph, Tensor};
use tessera_runtime::{Backend, CompiledBackend, NamedTensors, ReferenceBackend, Target};
use tessera_vulkan::{GpuLimits, VulkanDevice, VulkanTarget};

fn skip(why: &str) {
    assert!(
        std::env::var_os("TESSERA_REQUIRE_VULKAN").is_none(),
        "TESSERA_REQUIRE_VULKAN is set but the test cannot run: {why}"
    );
    println!("skipped: {why}");
}

/// A backend on the first usable adapter with its target, or `None` (reason printed).
fn vulkan() -> Option<&'static (CompiledBackend, Arc<VulkanTarget>)> {
    static B: OnceLock<Option<(CompiledBackend, Arc<VulkanTarget>)>> = OnceLock::new();
    let b = B.get_or_init(|| match VulkanDevice::open() {
        Ok(dev) => {
            let target = Arc::new(VulkanTarget::new(dev.features(), dev.limits()));
            let backend = CompiledBackend::new("vulkan", target.clone(), Arc::new(dev));
            Some((backend, target))
        }
        Err(why) => {
            skip(&format!("no wgpu adapter ({why})"));
            None
        }
    });
    b.as_ref()
}

fn floats(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 6.0 - 3.0
        })
        .collect()
}

fn run(b: &dyn Backend, g: &Graph, inputs: &NamedTensors) -> Vec<Tensor> {
    b.compile(g)
        .unwrap_or_else(|e| panic!("{}: {e}", b.name()))
        .run(inputs)
        .unwrap_or_else(|e| panic!("{}: {e}", b.name()))
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

/// One row-wise graph over `[rows, n]`.
fn graph(which: &str, rows: usize, n: usize) -> Graph {
    let mut b = GraphBuilder::new(which);
    let x = b.input("x", DType::F32, &[rows, n]);
    let y = match which {
        "sum" => b.reduce_sum(x, &[1], true),
        "max" => b.reduce_max(x, &[1], false),
        "softmax" => b.softmax(x, 1),
        _ => {
            let scale = b.constant(Tensor::from_vec(&[n], floats(n, 11)).unwrap());
            let bias = b.constant(Tensor::from_vec(&[n], floats(n, 12)).unwrap());
            b.layer_normalization(x, scale, Some(bias), 1, 1e-5)
        }
    }
    .unwrap();
    b.output(y, "y").unwrap();
    b.finish().unwrap()
}

#[test]
fn the_adapter_reports_its_subgroup_size_to_the_scheduler() {
    let Some((_, target)) = vulkan() else { return };
    let desc = target.desc();
    println!(
        "subgroups: {} (smallest size {}), scheduler uses them: {}",
        target.features().subgroups,
        desc.subgroup_size,
        desc.subgroup_ops
    );
    if target.features().subgroups {
        assert!(desc.subgroup_size >= 2 && desc.subgroup_size.is_power_of_two());
        assert!(desc.subgroup_ops);
    } else {
        assert!(!desc.subgroup_ops);
    }
}

#[test]
fn subgroup_reductions_match_the_reference() {
    let Some((backend, target)) = vulkan() else {
        return;
    };
    let lens = [
        1, 3, 5, 7, 8, 9, 16, 31, 32, 33, 63, 100, 255, 256, 257, 1000, 4097,
    ];
    let mut shuffled = 0;
    for which in ["sum", "max", "softmax", "layernorm"] {
        for &n in &lens {
            let rows = 3;
            let g = graph(which, rows, n);
            // Which kernels finish with subgroup shuffles on this adapter.
            if let Ok(tessera_runtime::Lowered::Planned { plan, .. }) =
                tessera_runtime::lower_graph(&g, target.desc())
            {
                for step in &plan.steps {
                    if let tessera_ir::plan::Step::Kernel(k) = step {
                        let info = tessera_ir::kernel::verify_kernel(&k.kernel).unwrap();
                        let wgsl = target.wgsl(&k.kernel, &info).unwrap();
                        shuffled += usize::from(wgsl.contains("subgroupShuffleXor"));
                    }
                }
            }
            let inputs: NamedTensors = [(
                "x".to_string(),
                Tensor::from_vec(&[rows, n], floats(rows * n, n as u64)).unwrap(),
            )]
            .into();
            let got = run(backend, &g, &inputs);
            let want = run(&ReferenceBackend, &g, &inputs);
            let (gv, wv) = (
                got[0].to_vec::<f32>().unwrap(),
                want[0].to_vec::<f32>().unwrap(),
            );
            assert_eq!(gv.len(), wv.len(), "{which} n={n}");
            // Sums in another order than the reference's: an error that grows with n.
            let tol = |b: f32| 1e-4 * (1.0 + b.abs()) + 3e-7 * n as f32 * 3.0;
            for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
                assert!(
                    (a - b).abs() <= tol(*b),
                    "{which} n={n} element {i}: got {a}, expected {b}"
                );
            }
        }
    }
    println!("{shuffled} kernels used subgroupShuffleXor");
    if target.desc().subgroup_ops {
        assert!(
            shuffled >= 40,
            "only {shuffled} kernels used subgroup shuffles"
        );
    }
}

#[test]
fn shuffle_masks_beyond_the_smallest_subgroup_are_refused() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ir/tests/kernel_filetests/shuffle_sum.kir"
    ))
    .unwrap();
    let k = tessera_ir::kernel::parse_kernel(&text).unwrap();
    let info = tessera_ir::kernel::verify_kernel(&k).unwrap();
    let with = |subgroup_size| {
        VulkanTarget::new(
            tessera_vulkan::wgsl::WgslFeatures::ALL,
            GpuLimits {
                subgroup_size,
                ..GpuLimits::WEBGPU_DEFAULT
            },
        )
    };
    // Masks 4, 2, 1 need subgroups of at least 8.
    assert!(
        with(8)
            .wgsl(&k, &info)
            .unwrap()
            .contains("subgroupShuffleXor")
    );
    let err = with(4).wgsl(&k, &info).unwrap_err().to_string();
    assert!(err.contains("shuffle_xor<4>"), "{err}");
    let none = tessera_vulkan::wgsl::WgslFeatures {
        subgroups: false,
        ..tessera_vulkan::wgsl::WgslFeatures::ALL
    };
    let err = VulkanTarget::new(none, GpuLimits::WEBGPU_DEFAULT)
        .wgsl(&k, &info)
        .unwrap_err()
        .to_string();
    assert!(err.contains("subgroup"), "{err}");
}

/// `[a / b, a mod b]` over i32 (divisors from the input: the renderer cannot prove them
/// non-zero) and u8 (a sub-word dtype computed in u32).
fn division_graph(dtype: DType, n: usize) -> Graph {
    let mut b = GraphBuilder::new("divide");
    let x = b.input("a", dtype, &[n]);
    let y = b.input("b", dtype, &[n]);
    let q = b.div(x, y).unwrap();
    let r = b.modulo(x, y).unwrap();
    b.output(q, "q").unwrap();
    b.output(r, "r").unwrap();
    b.finish().unwrap()
}

#[test]
fn integer_division_by_zero_is_a_typed_error_naming_the_kernel() {
    let Some((backend, _)) = vulkan() else { return };
    let n = 300;
    for dtype in [DType::I32, DType::U8] {
        let g = division_graph(dtype, n);
        let exe = backend.compile(&g).unwrap();
        let tensor = |v: Vec<i64>| match dtype {
            DType::U8 => Tensor::from_vec(&[n], v.iter().map(|&x| x as u8).collect()).unwrap(),
            _ => Tensor::from_vec(&[n], v.iter().map(|&x| x as i32).collect()).unwrap(),
        };
        let a: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 200 + 1).collect();
        let ok: Vec<i64> = (0..n as i64).map(|i| i % 9 + 1).collect();
        let mut zero = ok.clone();
        zero[n - 5] = 0;
        let inputs = |b: Vec<i64>| -> NamedTensors {
            [
                ("a".to_string(), tensor(a.clone())),
                ("b".to_string(), tensor(b)),
            ]
            .into()
        };
        // Without a zero divisor: the reference's results.
        let got = exe.run(&inputs(ok.clone())).unwrap();
        let want = run(&ReferenceBackend, &g, &inputs(ok.clone()));
        for ((_, x), y) in got.iter().zip(&want) {
            assert_eq!(x.bytes(), y.bytes(), "{dtype}");
        }
        // A zero divisor: a typed device error that names the kernel.
        let err = exe
            .run(&inputs(zero))
            .expect_err("division by zero must be an error")
            .to_string();
        assert!(err.contains("integer division by zero"), "{dtype}: {err}");
        assert!(
            err.contains("_div`") && err.contains("_mod`"),
            "{dtype}: {err}"
        );
        // The status word was cleared: the next run succeeds again.
        let again = exe.run(&inputs(ok)).unwrap();
        assert_eq!(again[0].1.bytes(), want[0].bytes(), "{dtype}");
    }
}

#[test]
fn a_division_by_zero_is_reported_to_its_own_run_only() {
    let Some((backend, _)) = vulkan() else { return };
    let n = 300;
    let g = division_graph(DType::I32, n);
    let exe = backend.compile(&g).unwrap();
    let inputs = |zero: bool| -> NamedTensors {
        let a: Vec<i32> = (0..n as i32).map(|i| (i * 37) % 200 + 1).collect();
        let mut b: Vec<i32> = (0..n as i32).map(|i| i % 9 + 1).collect();
        if zero {
            b[7] = 0;
        }
        [
            ("a".to_string(), Tensor::from_vec(&[n], a).unwrap()),
            ("b".to_string(), Tensor::from_vec(&[n], b).unwrap()),
        ]
        .into()
    };
    // Two threads share the device (and the executable): one always divides by zero, the
    // other never; each must see exactly its own outcome on every run.
    std::thread::scope(|s| {
        let bad = s.spawn(|| {
            for _ in 0..200 {
                let err = exe
                    .run(&inputs(true))
                    .expect_err("a zero divisor is an error");
                assert!(
                    err.to_string().contains("integer division by zero"),
                    "{err}"
                );
            }
        });
        let good = s.spawn(|| {
            for _ in 0..200 {
                exe.run(&inputs(false))
                    .expect("a run without a zero divisor succeeds");
            }
        });
        bad.join().unwrap();
        good.join().unwrap();
    });
}
