# Generates ONNX test cases in the node-test layout (model.onnx + test_data_set_0/*.pb) for the
# importer's opset-dependent mappings (opsets 1-11: Softmax coercion, Clip/Pad/Slice/Split/Reduce/
# Squeeze/TopK attributes, Resize-10, Upsample, Dropout, BatchNormalization), compositions and
# function inlining. Expected outputs come from numpy or onnx.reference. Usage:
#   python3 gen_old_opset_cases.py OUT_DIR
#   TESSERA_ONNX_NODE_DIR=OUT_DIR cargo test -p tessera-frontends node_tests -- --include-ignored --nocapture
import os, sys, shutil, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
from onnx.reference import ReferenceEvaluator

OUT = sys.argv[1] if len(sys.argv) > 1 else "onnx-old-opset-cases"
shutil.rmtree(OUT, ignore_errors=True)
rng = np.random.default_rng(0)

def vi(name, arr):
    return h.make_tensor_value_info(name, h.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)

def save(name, nodes, opset, inputs, outputs_expected, inits=(), functions=(), extra_opsets=()):
    g = h.make_graph(nodes, name, [vi(k, v) for k, v in inputs.items()],
                     [h.make_tensor_value_info(k, h.np_dtype_to_tensor_dtype(v.dtype), None) for k, v in outputs_expected.items()],
                     initializer=list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset), *extra_opsets], functions=list(functions))
    m.ir_version = 8
    d = os.path.join(OUT, name); os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(m, os.path.join(d, "model.onnx"))
    for i, (k, v) in enumerate(inputs.items()):
        onnx.save_tensor(nh.from_array(v, k), os.path.join(d, "test_data_set_0", f"input_{i}.pb"))
    for i, (k, v) in enumerate(outputs_expected.items()):
        onnx.save_tensor(nh.from_array(np.asarray(v), k), os.path.join(d, "test_data_set_0", f"output_{i}.pb"))

def ref(nodes, opset, inputs, outs, inits=()):
    g = h.make_graph(nodes, "r", [vi(k, v) for k, v in inputs.items()],
                     [h.make_tensor_value_info(o, TP.UNDEFINED, None) for o in outs], initializer=list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)]); m.ir_version = 8
    res = ReferenceEvaluator(m).run(None, inputs)
    return dict(zip(outs, res))

x3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
x4 = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)

def sm(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, keepdims=True)
flat = x3.reshape(2, 12)
save("old_softmax_11_axis1", [h.make_node("Softmax", ["x"], ["y"])], 11, {"x": x3}, {"y": sm(flat, 1).reshape(2, 3, 4)})
save("old_logsoftmax_11_axis0", [h.make_node("LogSoftmax", ["x"], ["y"], axis=0)], 11, {"x": x3}, {"y": np.log(sm(x3.reshape(1, 24), 1)).reshape(2, 3, 4)})
hm = np.zeros_like(flat); hm[np.arange(2), flat.argmax(1)] = 1
save("old_hardmax_11_axis1", [h.make_node("Hardmax", ["x"], ["y"], axis=1)], 11, {"x": x3}, {"y": hm.reshape(2, 3, 4)})
save("old_softmax_1_last", [h.make_node("Softmax", ["x"], ["y"], axis=2)], 1, {"x": x3}, {"y": sm(x3, 2)})

save("old_clip_6", [h.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)], 6, {"x": x3}, {"y": np.clip(x3, -0.5, 0.7)})
save("old_clip_6_max_only", [h.make_node("Clip", ["x"], ["y"], max=0.1)], 6, {"x": x3}, {"y": np.minimum(x3, 0.1)})
save("old_pad_2_constant", [h.make_node("Pad", ["x"], ["y"], pads=[0, 1, 0, 0, 2, 1], value=1.5)], 2, {"x": x3},
     {"y": np.pad(x3, ((0, 0), (1, 2), (0, 1)), constant_values=1.5)})
save("old_pad_2_reflect", [h.make_node("Pad", ["x"], ["y"], pads=[0, 1, 1, 0, 1, 2], mode="reflect")], 2, {"x": x3},
     {"y": np.pad(x3, ((0, 0), (1, 1), (1, 2)), mode="reflect")})
save("old_slice_1", [h.make_node("Slice", ["x"], ["y"], starts=[1, -3], ends=[100, -1], axes=[2, 1])], 1, {"x": x3}, {"y": x3[:, -3:-1, 1:]})
save("old_slice_1_noaxes", [h.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[2, 2])], 9, {"x": x3}, {"y": x3[1:2, 0:2]})
save("old_split_11", [h.make_node("Split", ["x"], ["a", "b"], axis=2, split=[1, 3])], 11, {"x": x3}, {"a": x3[:, :, :1], "b": x3[:, :, 1:]})
save("old_split_11_equal", [h.make_node("Split", ["x"], ["a", "b"], axis=-1)], 11, {"x": x3}, {"a": x3[:, :, :2], "b": x3[:, :, 2:]})
x7 = rng.standard_normal((7,)).astype(np.float32)
save("split_18_uneven", [h.make_node("Split", ["x"], ["a", "b", "c"], num_outputs=3)], 18, {"x": x7}, {"a": x7[:3], "b": x7[3:6], "c": x7[6:]})
save("old_reducemean_13_attr", [h.make_node("ReduceMean", ["x"], ["y"], axes=[0, -1], keepdims=0)], 13, {"x": x3}, {"y": x3.mean(axis=(0, 2))})
save("old_reducesum_11_attr", [h.make_node("ReduceSum", ["x"], ["y"], axes=[1])], 11, {"x": x3}, {"y": x3.sum(axis=1, keepdims=True)})
save("old_reducemax_1_all", [h.make_node("ReduceMax", ["x"], ["y"], keepdims=0)], 1, {"x": x3}, {"y": np.array(x3.max(), dtype=np.float32)})
x1 = rng.standard_normal((1, 3, 1)).astype(np.float32)
save("old_squeeze_11", [h.make_node("Squeeze", ["x"], ["y"], axes=[0])], 11, {"x": x1}, {"y": x1[0]})
save("old_squeeze_1_all", [h.make_node("Squeeze", ["x"], ["y"])], 1, {"x": x1}, {"y": x1.reshape(3)})
save("old_unsqueeze_11", [h.make_node("Unsqueeze", ["x"], ["y"], axes=[0, -1])], 11, {"x": x3}, {"y": x3.reshape(1, 2, 3, 4, 1)})
xk = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]], dtype=np.float32)
save("old_topk_1", [h.make_node("TopK", ["x"], ["v", "i"], k=2)], 9, {"x": xk},
     {"v": np.array([[5, 4], [9, 6]], dtype=np.float32), "i": np.array([[4, 2], [0, 2]], dtype=np.int64)})
xr = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
sc = np.array([1, 1, 2, 3], dtype=np.float32)
exp_near = xr.repeat(2, axis=2).repeat(3, axis=3)
save("old_resize_10_nearest", [h.make_node("Resize", ["x", "s"], ["y"], mode="nearest")], 10, {"x": xr, "s": sc}, {"y": exp_near})
lin = ref([h.make_node("Resize", ["x", "", "s"], ["y"], mode="linear", coordinate_transformation_mode="asymmetric")], 13, {"x": xr, "s": sc}, ["y"])["y"]
save("old_resize_10_linear", [h.make_node("Resize", ["x", "s"], ["y"], mode="linear")], 10, {"x": xr, "s": sc}, {"y": lin})
save("old_upsample_9", [h.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")], 9, {"x": xr, "s": sc}, {"y": exp_near})
save("old_upsample_7_attr", [h.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])], 7, {"x": xr}, {"y": exp_near})
save("old_upsample_7_linear", [h.make_node("Upsample", ["x"], ["y"], mode="linear", scales=[1.0, 1.0, 2.0, 3.0])], 7, {"x": xr}, {"y": lin})
save("old_dropout_7_mask", [h.make_node("Dropout", ["x"], ["y", "m"], ratio=0.3)], 7, {"x": x3}, {"y": x3, "m": np.ones_like(x3)})
save("old_dropout_10_mask", [h.make_node("Dropout", ["x"], ["y", "m"], ratio=0.3)], 10, {"x": x3}, {"y": x3, "m": np.ones(x3.shape, dtype=bool)})
s = rng.random(2).astype(np.float32) + 0.5; b = rng.random(2).astype(np.float32); mu = rng.random(2).astype(np.float32); var = rng.random(2).astype(np.float32) + 0.5
bn = ((x4 - mu.reshape(1, 2, 1, 1)) / np.sqrt(var.reshape(1, 2, 1, 1) + 1e-3)) * s.reshape(1, 2, 1, 1) + b.reshape(1, 2, 1, 1)
save("old_batchnorm_9", [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)], 9, {"x": x4},
     {"y": bn.astype(np.float32)}, inits=[nh.from_array(s, "s"), nh.from_array(b, "b"), nh.from_array(mu, "m"), nh.from_array(var, "v")])
save("old_batchnorm_7_spatial", [h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3, spatial=1)], 7, {"x": x4},
     {"y": bn.astype(np.float32)}, inits=[nh.from_array(s, "s"), nh.from_array(b, "b"), nh.from_array(mu, "m"), nh.from_array(var, "v")])
xm = np.array([-7, -3, 3, 7], dtype=np.int32); ym = np.array([2, -2, 2, -2], dtype=np.int32)
save("mod_fmod", [h.make_node("Mod", ["x", "d"], ["y"], fmod=1)], 13, {"x": xm, "d": ym}, {"y": np.fmod(xm, ym)})
save("mod_int", [h.make_node("Mod", ["x", "d"], ["y"])], 13, {"x": xm, "d": ym}, {"y": np.mod(xm, ym)})
save("swish_24", [h.make_node("Swish", ["x"], ["y"], alpha=2.0)], 24, {"x": x3}, {"y": x3 / (1 + np.exp(-2 * x3))})
save("constants_13", [h.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0, 4.0]), h.make_node("Add", ["x", "c"], ["y"])], 13, {"x": x3}, {"y": x3 + np.array([1, 2, 3, 4], dtype=np.float32)})
save("castlike_15", [h.make_node("CastLike", ["x", "t"], ["y"])], 15, {"x": x3, "t": np.array([1], dtype=np.int32)}, {"y": x3.astype(np.int32)})
save("sum_one_13", [h.make_node("Sum", ["x"], ["y"])], 13, {"x": x3}, {"y": x3})
# A model-local function with an attribute reference and a default.
fbody = [h.make_node("Constant", [], ["a"], value_float=0.0), h.make_node("Relu", ["X"], ["r"]), h.make_node("Mul", ["r", "a"], ["Y"])]
fbody[0].attribute[0].ref_attr_name = "alpha"
f = h.make_function("custom", "ScaledRelu", ["X"], ["Y"], fbody, [h.make_opsetid("", 18)], attributes=[])
f.attribute_proto.extend([h.make_attribute("alpha", 2.0)])
save("function_inline", [h.make_node("ScaledRelu", ["x"], ["y"], domain="custom", alpha=3.0), h.make_node("ScaledRelu", ["y"], ["z"], domain="custom")], 18,
     {"x": x3}, {"y": np.maximum(x3, 0) * 3, "z": np.maximum(x3, 0) * 6}, functions=[f], extra_opsets=[h.make_opsetid("custom", 1)])
# Lp pooling with p other than 1 and 2.
save("globallppool_p3", [h.make_node("GlobalLpPool", ["x"], ["y"], p=3)], 22, {"x": x4},
     {"y": (np.abs(x4) ** 3).sum(axis=(2, 3), keepdims=True) ** (1 / 3)})
save("globallppool_p2", [h.make_node("GlobalLpPool", ["x"], ["y"])], 22, {"x": x4},
     {"y": np.sqrt((x4 ** 2).sum(axis=(2, 3), keepdims=True))})
lp3 = np.stack([np.stack([(np.abs(x4[0, c, i:i + 2, j:j + 2]) ** 3).sum() ** (1 / 3) for j in range(3)]) for c in range(2) for i in range(2)]).reshape(1, 2, 2, 3)
save("lppool_p3", [h.make_node("LpPool", ["x"], ["y"], p=3, kernel_shape=[2, 2])], 22, {"x": x4}, {"y": lp3.astype(np.float32)})
# Unsorted nodes.
save("unsorted_nodes", [h.make_node("Neg", ["a"], ["y"]), h.make_node("Exp", ["x"], ["a"])], 13, {"x": x3}, {"y": -np.exp(x3)})
print("cases:", len(os.listdir(OUT)))
