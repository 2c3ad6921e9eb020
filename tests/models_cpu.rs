//! Real-model tests: an MLP, a transformer encoder block and a small CNN, built with the
//! `GraphBuilder`, compiled for the `cpu` backend (fused, scheduled, JIT-compiled) and compared
//! with the `reference` interpreter on the same seeded inputs.

use tessera::frontends::builder::ConvAttrs;
use tessera::ir::attr::GeluApprox;
use tessera::{DType, Graph, GraphBuilder, Tensor, Var};

/// A small deterministic generator (xorshift) so the weights and inputs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // Uniform in [-1, 1).
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn tensor(&mut self, dims: &[usize], scale: f32) -> Tensor {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.next() * scale).collect();
        Tensor::from_vec(dims, v).unwrap()
    }
}

/// Runs `graph` on `reference` and `cpu` and checks every output element within
/// `atol + rtol * |expected|`.
fn check(graph: &Graph, inputs: Vec<(&str, Tensor)>, rtol: f32, atol: f32) {
    let inputs: tessera::NamedTensors = inputs
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let want = tessera::compile(graph, "reference")
        .unwrap()
        .run(&inputs)
        .unwrap();
    let got = tessera::compile(graph, "cpu")
        .unwrap()
        .run(&inputs)
        .unwrap();
    assert_eq!(want.len(), got.len());
    for ((wn, w), (gn, g)) in want.iter().zip(&got) {
        assert_eq!(wn, gn);
        assert_eq!(w.shape(), g.shape(), "output {wn}");
        assert_eq!(w.dtype(), g.dtype(), "output {wn}");
        let w = w.to_vec::<f32>().unwrap();
        let g = g.to_vec::<f32>().unwrap();
        let mut worst = 0f32;
        for (i, (a, b)) in w.iter().zip(&g).enumerate() {
            let err = (a - b).abs();
            assert!(
                err <= atol + rtol * a.abs(),
                "output {wn}[{i}]: reference {a}, cpu {b} (|diff| {err})"
            );
            worst = worst.max(err);
        }
        println!("{}: output {wn}: max |diff| {worst:e}", graph.name);
    }
}

fn linear(b: &mut GraphBuilder, rng: &mut Rng, x: Var, k: usize, n: usize, name: &str) -> Var {
    let w = b.weight(
        &format!("{name}.w"),
        rng.tensor(&[k, n], 1.0 / (k as f32).sqrt()),
    );
    let bias = b.weight(&format!("{name}.b"), rng.tensor(&[n], 0.1));
    let h = b.matmul(x, w).unwrap();
    b.add(h, bias).unwrap()
}

#[test]
fn mlp_matches_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut b = GraphBuilder::new("mlp");
    let x = b.input("x", DType::F32, &[8, 64]);
    let w1 = b.weight("w1", rng.tensor(&[64, 128], 0.125));
    let b1 = b.weight("b1", rng.tensor(&[128], 0.1));
    let h = b.gemm(x, w1, Some(b1), 1.0, 1.0, false, false).unwrap();
    let h = b.relu(h).unwrap();
    let w2 = b.weight("w2", rng.tensor(&[10, 128], 0.09));
    let b2 = b.weight("b2", rng.tensor(&[10], 0.1));
    let logits = b.gemm(h, w2, Some(b2), 1.0, 1.0, false, true).unwrap();
    let p = b.softmax(logits, -1).unwrap();
    b.output(p, "probs").unwrap();
    let g = b.finish().unwrap();
    check(&g, vec![("x", rng.tensor(&[8, 64], 1.0))], 1e-4, 1e-6);
}

#[test]
fn transformer_block_matches_reference() {
    const B: usize = 2;
    const S: usize = 16;
    const D: usize = 64;
    const H: usize = 4;
    const HD: usize = D / H;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut b = GraphBuilder::new("encoder_block");
    let x = b.input("x", DType::F32, &[B, S, D]);

    let g1 = b.weight("ln1.g", rng.tensor(&[D], 1.0));
    let be1 = b.weight("ln1.b", rng.tensor(&[D], 0.1));
    let n1 = b.layer_normalization(x, g1, Some(be1), -1, 1e-5).unwrap();
    let heads = |b: &mut GraphBuilder, rng: &mut Rng, name: &str| {
        let p = linear(b, rng, n1, D, D, name);
        let p = b
            .reshape(p, &[B as i64, S as i64, H as i64, HD as i64])
            .unwrap();
        b.transpose(p, &[0, 2, 1, 3]).unwrap()
    };
    let q = heads(&mut b, &mut rng, "q");
    let k = heads(&mut b, &mut rng, "k");
    let v = heads(&mut b, &mut rng, "v");
    let kt = b.transpose(k, &[0, 1, 3, 2]).unwrap();
    let scores = b.matmul(q, kt).unwrap();
    let scale = b.constant(Tensor::from_vec(&[], vec![1.0f32 / (HD as f32).sqrt()]).unwrap());
    let scores = b.mul(scores, scale).unwrap();
    let attn = b.softmax(scores, -1).unwrap();
    let ctx = b.matmul(attn, v).unwrap();
    let ctx = b.transpose(ctx, &[0, 2, 1, 3]).unwrap();
    let ctx = b.reshape(ctx, &[B as i64, S as i64, D as i64]).unwrap();
    let proj = linear(&mut b, &mut rng, ctx, D, D, "o");
    let r1 = b.add(x, proj).unwrap();

    let g2 = b.weight("ln2.g", rng.tensor(&[D], 1.0));
    let be2 = b.weight("ln2.b", rng.tensor(&[D], 0.1));
    let n2 = b.layer_normalization(r1, g2, Some(be2), -1, 1e-5).unwrap();
    let up = linear(&mut b, &mut rng, n2, D, 4 * D, "ff1");
    let act = b.gelu(up, GeluApprox::None).unwrap();
    let down = linear(&mut b, &mut rng, act, 4 * D, D, "ff2");
    let y = b.add(r1, down).unwrap();
    b.output(y, "y").unwrap();
    let g = b.finish().unwrap();
    check(&g, vec![("x", rng.tensor(&[B, S, D], 1.0))], 1e-3, 1e-4);
}

#[test]
fn small_cnn_matches_reference() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut b = GraphBuilder::new("small_cnn");
    let x = b.input("x", DType::F32, &[2, 3, 17, 17]);

    let w1 = b.weight("conv1.w", rng.tensor(&[8, 3, 3, 3], 0.3));
    let c1b = b.weight("conv1.b", rng.tensor(&[8], 0.1));
    let attrs = ConvAttrs {
        pads: vec![1, 1, 1, 1],
        ..ConvAttrs::default()
    };
    let c1 = b.conv(x, w1, Some(c1b), attrs).unwrap();
    let scale = b.weight("bn.scale", rng.tensor(&[8], 1.0));
    let shift = b.weight("bn.shift", rng.tensor(&[8], 0.1));
    let mean = b.weight("bn.mean", rng.tensor(&[8], 0.1));
    let var_data: Vec<f32> = (0..8).map(|i| 0.5 + i as f32 * 0.1).collect();
    let var = b.weight("bn.var", Tensor::from_vec(&[8], var_data).unwrap());
    let bn = b
        .batch_normalization(c1, scale, shift, mean, var, 1e-5)
        .unwrap();
    let r1 = b.relu(bn).unwrap();
    let p1 = b
        .max_pool(r1, vec![2, 2], vec![2, 2], vec![0, 0, 0, 0], false)
        .unwrap();

    // A grouped, strided convolution (groups of 4 channels).
    let w2 = b.weight("conv2.w", rng.tensor(&[16, 4, 3, 3], 0.3));
    let attrs = ConvAttrs {
        group: 2,
        strides: vec![2, 2],
        pads: vec![1, 1, 1, 1],
        ..ConvAttrs::default()
    };
    let c2 = b.conv(p1, w2, None, attrs).unwrap();
    let r2 = b.relu(c2).unwrap();
    let gap = b.global_average_pool(r2).unwrap();
    let flat = b.flatten(gap, 1).unwrap();
    let logits = linear(&mut b, &mut rng, flat, 16, 5, "fc");
    let p = b.softmax(logits, 1).unwrap();
    b.output(p, "probs").unwrap();
    let g = b.finish().unwrap();
    check(
        &g,
        vec![("x", rng.tensor(&[2, 3, 17, 17], 1.0))],
        1e-4,
        1e-6,
    );
}
