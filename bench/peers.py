#!/usr/bin/env python3
"""Runs `tessera bench`'s built-in workloads in Tessera (both CPU code generators), ONNX Runtime
and NumPy side by side in one run, and prints a table of median latencies with ratios.

Usage: python3 bench/peers.py [--tessera PATH] [--threads 2] [--iters 10] [--json OUT]
        [--svg ROOFLINE.svg] [--workload NAME ...]

Thread counts: ONNX Runtime gets intra_op_num_threads; NumPy's BLAS gets OMP/OPENBLAS/MKL
_NUM_THREADS (set before NumPy is imported). A peer that is not installed is reported as
missing, not skipped silently.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = ["matmul-1024", "matmul-2048", "gelu-16m", "softmax-4096", "layernorm-4096", "conv-64x56x56", "mlp",
             "encoder", "cnn"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tessera", default="target/release/tessera", help="the tessera binary")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--workload", action="append", help="workload names (default: all)")
    p.add_argument("--codegen", action="append", help="tessera CPU code generators (default: cranelift, llvm)")
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--svg", help="draw a roofline plot of every figure here (bench/roofline.py)")
    return p.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread variables)


def rand(*shape, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def inputs_of(name):
    """The workload's inputs, as the tessera builder declares them."""
    if name.startswith("matmul"):
        n = int(name.split("-")[1])
        return {"a": rand(n, n, seed=1), "b": rand(n, n, seed=2)}
    if name == "gelu-16m":
        return {"x": rand(4096, 4096, seed=1), "a": rand(4096, seed=2), "b": rand(4096, seed=3)}
    if name == "softmax-4096":
        return {"x": rand(4096, 4096)}
    if name == "layernorm-4096":
        return {"x": rand(4096, 4096, seed=1), "scale": rand(4096, seed=2), "bias": rand(4096, seed=3)}
    if name == "conv-64x56x56":
        return {"x": rand(1, 64, 56, 56, seed=1), "w": rand(64, 64, 3, 3, seed=2)}
    if name == "encoder":
        s, d, ff = 128, 512, 2048
        x = {"x": rand(s, d, seed=1)}
        seed = 2
        for ln in ("ln1", "ln2"):
            x[f"{ln}_g"], x[f"{ln}_b"] = rand(d, seed=seed), rand(d, seed=seed + 1)
            seed += 2
        for name, k, n in (("q", d, d), ("k", d, d), ("v", d, d), ("o", d, d), ("ff1", d, ff), ("ff2", ff, d)):
            x[f"{name}_w"], x[f"{name}_b"] = rand(k, n, seed=seed), rand(n, seed=seed + 1)
            seed += 2
        return x
    if name == "cnn":
        x = {"x": rand(1, 3, 64, 64, seed=1)}
        seed = 2
        for name, cin, cout in (("stem", 3, 32), ("block1", 32, 32), ("block2", 32, 32), ("conv3", 32, 64)):
            x[f"{name}_w"], x[f"{name}_b"] = rand(cout, cin, 3, 3, seed=seed), rand(cout, seed=seed + 1)
            seed += 2
        x["fc_w"], x["fc_b"] = rand(64, 10, seed=seed), rand(10, seed=seed + 1)
        return x
    if name == "mlp":
        return {
            "x": rand(256, 1024, seed=1),
            "w1": rand(1024, 4096, seed=2),
            "b1": rand(4096, seed=3),
            "w2": rand(4096, 1024, seed=4),
            "b2": rand(1024, seed=5),
        }
    raise ValueError(name)


def median_ms(fn, iters, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


# ---- NumPy ------------------------------------------------------------------------------------

def numpy_fn(name, x):
    try:
        from scipy.special import erf
    except ImportError:
        erf = None
    if name.startswith("matmul"):
        return lambda: x["a"] @ x["b"]
    if name == "gelu-16m":
        if erf is None:
            return None
        def gelu():
            y = x["x"] * x["a"] + x["b"]
            return 0.5 * y * (1.0 + erf(y * np.float32(0.7071067811865476)))
        return gelu
    if name == "softmax-4096":
        def softmax():
            m = x["x"].max(axis=-1, keepdims=True)
            e = np.exp(x["x"] - m)
            return e / e.sum(axis=-1, keepdims=True)
        return softmax
    if name == "layernorm-4096":
        def layernorm():
            v = x["x"]
            mu = v.mean(axis=-1, keepdims=True)
            var = ((v - mu) ** 2).mean(axis=-1, keepdims=True)
            return (v - mu) / np.sqrt(var + 1e-5) * x["scale"] + x["bias"]
        return layernorm
    if name == "conv-64x56x56":
        def conv():
            # im2col + GEMM, as a NumPy user would write it.
            xp = np.pad(x["x"][0], ((0, 0), (1, 1), (1, 1)))
            cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))
            cols = cols.transpose(0, 3, 4, 1, 2).reshape(64 * 9, 56 * 56)
            return (x["w"].reshape(64, 64 * 9) @ cols).reshape(1, 64, 56, 56)
        return conv
    if name == "mlp":
        def mlp():
            h = x["x"] @ x["w1"] + x["b1"]
            h = 0.5 * h * (1 + np.tanh(0.7978845608028654 * (h + 0.044715 * h ** 3)))
            return h @ x["w2"] + x["b2"]
        return mlp
    return None


# ---- ONNX Runtime ---------------------------------------------------------------------------

def onnx_model(name, x):
    from onnx import TensorProto, helper

    def inp(k):
        return helper.make_tensor_value_info(k, TensorProto.FLOAT, list(x[k].shape))

    nodes, opset = [], 17
    if name.startswith("matmul"):
        nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
    elif name == "gelu-16m":
        opset = 20
        nodes = [
            helper.make_node("Mul", ["x", "a"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["s"]),
            helper.make_node("Gelu", ["s"], ["y"]),
        ]
    elif name == "softmax-4096":
        nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=-1)]
    elif name == "layernorm-4096":
        nodes = [helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], axis=-1, epsilon=1e-5)]
    elif name == "conv-64x56x56":
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    elif name == "mlp":
        opset = 20
        nodes = [
            helper.make_node("MatMul", ["x", "w1"], ["h0"]),
            helper.make_node("Add", ["h0", "b1"], ["h1"]),
            helper.make_node("Gelu", ["h1"], ["h2"], approximate="tanh"),
            helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
            helper.make_node("Add", ["h3", "b2"], ["y"]),
        ]
    elif name == "encoder":
        opset = 20
        mk = helper.make_node
        s_, h, hd = 128, 8, 64
        shape3 = helper.make_tensor("shape3", TensorProto.INT64, [3], [s_, h, hd])
        shape2 = helper.make_tensor("shape2", TensorProto.INT64, [2], [s_, h * hd])
        scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [1.0 / 8.0])
        nodes = [
            mk("Constant", [], ["shape3"], value=shape3),
            mk("Constant", [], ["shape2"], value=shape2),
            mk("Constant", [], ["scale"], value=scale),
            mk("LayerNormalization", ["x", "ln1_g", "ln1_b"], ["n1"], axis=-1, epsilon=1e-5),
        ]
        for p in ("q", "k", "v"):
            nodes += [
                mk("MatMul", ["n1", f"{p}_w"], [f"{p}0"]),
                mk("Add", [f"{p}0", f"{p}_b"], [f"{p}1"]),
                mk("Reshape", [f"{p}1", "shape3"], [f"{p}2"]),
                mk("Transpose", [f"{p}2"], [f"{p}3"], perm=[1, 0, 2]),
            ]
        nodes += [
            mk("Transpose", ["k3"], ["kt"], perm=[0, 2, 1]),
            mk("MatMul", ["q3", "kt"], ["sc0"]),
            mk("Mul", ["sc0", "scale"], ["sc1"]),
            mk("Softmax", ["sc1"], ["attn"], axis=-1),
            mk("MatMul", ["attn", "v3"], ["ctx0"]),
            mk("Transpose", ["ctx0"], ["ctx1"], perm=[1, 0, 2]),
            mk("Reshape", ["ctx1", "shape2"], ["ctx2"]),
            mk("MatMul", ["ctx2", "o_w"], ["o0"]),
            mk("Add", ["o0", "o_b"], ["o1"]),
            mk("Add", ["x", "o1"], ["r1"]),
            mk("LayerNormalization", ["r1", "ln2_g", "ln2_b"], ["n2"], axis=-1, epsilon=1e-5),
            mk("MatMul", ["n2", "ff1_w"], ["f0"]),
            mk("Add", ["f0", "ff1_b"], ["f1"]),
            mk("Gelu", ["f1"], ["f2"]),
            mk("MatMul", ["f2", "ff2_w"], ["f3"]),
            mk("Add", ["f3", "ff2_b"], ["f4"]),
            mk("Add", ["r1", "f4"], ["y"]),
        ]
    elif name == "cnn":
        mk = helper.make_node
        nodes = [
            mk("Conv", ["x", "stem_w", "stem_b"], ["s0"], pads=[1, 1, 1, 1]),
            mk("Relu", ["s0"], ["s1"]),
            mk("Conv", ["s1", "block1_w", "block1_b"], ["b0"], pads=[1, 1, 1, 1]),
            mk("Relu", ["b0"], ["b1"]),
            mk("Conv", ["b1", "block2_w", "block2_b"], ["b2"], pads=[1, 1, 1, 1]),
            mk("Add", ["b2", "s1"], ["r0"]),
            mk("Relu", ["r0"], ["r1"]),
            mk("MaxPool", ["r1"], ["p0"], kernel_shape=[2, 2], strides=[2, 2]),
            mk("Conv", ["p0", "conv3_w", "conv3_b"], ["c0"], pads=[1, 1, 1, 1]),
            mk("Relu", ["c0"], ["c1"]),
            mk("GlobalAveragePool", ["c1"], ["g0"]),
            mk("Flatten", ["g0"], ["g1"], axis=1),
            mk("MatMul", ["g1", "fc_w"], ["l0"]),
            mk("Add", ["l0", "fc_b"], ["y"]),
        ]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, name, [inp(k) for k in x], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def ort_fn(name, x):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    model = onnx_model(name, x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ARGS.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, x)


# ---- Tessera --------------------------------------------------------------------------------

def tessera(workloads, codegen):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "bench.json")
        cmd = [ARGS.tessera, "bench", "--threads", str(ARGS.threads), "--iters", str(ARGS.iters),
               "--cpu-codegen", codegen, "--json", out]
        for w in workloads:
            cmd += ["--workload", w]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"tessera ({codegen}) failed: {r.stderr.strip()}", file=sys.stderr)
            return None
        print(r.stdout)
        with open(out) as f:
            return json.load(f)


def main():
    workloads = ARGS.workload or WORKLOADS
    codegens = ARGS.codegen or ["cranelift", "llvm"]
    results = {}
    work = {}
    peak = None
    for c in codegens:
        rep = tessera(workloads, c)
        if rep is None:
            continue
        peak = rep["peak"]
        for r in rep["results"]:
            results.setdefault(r["workload"], {})[f"tessera-{c}"] = r["median_ms"]
            work[r["workload"]] = {"flops": r.get("flops"), "bytes": r.get("bytes")}
    for w in workloads:
        x = inputs_of(w)
        for peer, make in (("onnxruntime", ort_fn), ("numpy", numpy_fn)):
            fn = make(w, x)
            results.setdefault(w, {})[peer] = median_ms(fn, ARGS.iters) if fn else None
    cols = [f"tessera-{c}" for c in codegens] + ["onnxruntime", "numpy"]
    if peak:
        print(f"peak probed by tessera: {peak['gflops']:.1f} GFLOP/s, {peak['gbps']:.1f} GB/s ({ARGS.threads} threads)")
    print(f"{'workload':<16}" + "".join(f"{c:>17}" for c in cols) + "   ratios (peer / tessera, >1 = tessera faster)")
    for w in workloads:
        row = results.get(w, {})
        cells = "".join(f"{row[c]:>14.3f} ms" if row.get(c) else f"{'n/a':>17}" for c in cols)
        best = min((row[c] for c in cols[: len(codegens)] if row.get(c)), default=None)
        ratios = []
        for peer in ("onnxruntime", "numpy"):
            if best and row.get(peer):
                ratios.append(f"{peer} {row[peer] / best:.2f}x")
        print(f"{w:<16}{cells}   {', '.join(ratios)}")
    doc = {"threads": ARGS.threads, "peak": peak, "median_ms": results, "work": work}
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(doc, f, indent=2)
    if ARGS.svg:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import roofline  # noqa: E402  (the script beside this one)
        pts, gf, bw = roofline.points_of(doc)
        title = f"Tessera vs peers, {ARGS.threads} threads (medians of {ARGS.iters} runs)"
        with open(ARGS.svg, "w") as f:
            f.write(roofline.svg(pts, gf, bw, title))
        print(f"wrote {ARGS.svg}")


if __name__ == "__main__":
    main()
