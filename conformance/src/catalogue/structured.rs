//! Cases of the operators whose operands are structured data rather than plain tensors of a
//! shape family: mel filter banks (five scalars), non-maximum suppression (boxes and scores),
//! col2im (column blocks of a given image and block shape), RoiAlign (regions in pixel
//! coordinates), deformable convolution (offsets and masks) and TfIdfVectorizer (an n-gram
//! pool). Each gets every dtype it accepts × the shape and attribute families that exercise
//! its parameters (strides, pads, dilations, groups, modes, empty inputs); the structured
//! operands that must be well formed (regions, image shapes, pools) are constants, the data
//! around them is generated from the case's name like every other input.

use super::{Builder, DTYPES, Domain, FLOATS, NUMERIC, Operand, Values, inp, inp_d, ints};
use tessera_ir::{DType, Op, Tensor};

/// A constant of `dtype` and `shape` holding `values` (rounded to the dtype).
fn float_const(dtype: DType, shape: &[usize], values: &[f64]) -> Operand {
    let mut bytes = Vec::with_capacity(values.len() * dtype.size_bytes());
    for &v in values {
        bytes.extend(match dtype {
            DType::F64 => v.to_le_bytes().to_vec(),
            DType::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
            DType::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
            _ => (v as f32).to_le_bytes().to_vec(),
        });
    }
    Operand::Const(Tensor::from_bytes(dtype, shape, bytes).unwrap_or_else(|_| Tensor::scalar(0f32)))
}

/// A scalar integer constant of `dtype`.
fn int_const(dtype: DType, v: i64) -> Operand {
    Operand::Const(super::scalar_of(dtype, v as f64))
}

/// Every operator of this module.
pub(super) fn structured(b: &mut Builder) {
    mel_weight_matrix(b);
    non_max_suppression(b);
    col2im(b);
    roi_align(b);
    deform_conv(b);
    tf_idf_vectorizer(b);
}

/// Five constant scalars `(num_mel_bins, dft_length, sample_rate, lower_hz, upper_hz)`; the
/// case's dtype is the output's.
fn mel_weight_matrix(b: &mut Builder) {
    // (family, bins, dft length, sample rate, lower, upper, integer dtype of the first three)
    let families: [(&str, i64, i64, i64, f64, f64, DType); 4] = [
        ("8bins_dft64", 8, 64, 8000, 0.0, 4000.0, DType::I64),
        (
            "20bins_dft256_band",
            20,
            256,
            16000,
            300.0,
            7600.0,
            DType::I32,
        ),
        ("odd_dft33", 5, 33, 22050, 50.0, 11025.0, DType::I64),
        ("1bin_dft16", 1, 16, 8000, 100.0, 3000.0, DType::I32),
    ];
    for (sf, bins, dft, rate, lo, hi, idx) in families {
        for d in FLOATS {
            let op = Op::MelWeightMatrix { output_datatype: d };
            let operands = vec![
                int_const(idx, bins),
                int_const(idx, dft),
                int_const(idx, rate),
                float_const(DType::F32, &[], &[lo]),
                float_const(DType::F32, &[], &[hi]),
            ];
            let terms = dft as usize / 2 + 1;
            b.add(
                &op,
                "mel_weight_matrix",
                d,
                sf,
                Values::Ordinary,
                operands,
                1,
                terms,
            );
        }
    }
}

/// Boxes `[B, n, 4]` and scores `[B, C, n]` of the case's dtype; the limits are constants.
fn non_max_suppression(b: &mut Builder) {
    // (family, center boxes, B, C, n, max per class, iou, score threshold)
    type Nms = (
        &'static str,
        i64,
        usize,
        usize,
        usize,
        Option<i64>,
        f64,
        Option<f64>,
    );
    let families: [Nms; 5] = [
        ("corners_1x1x6", 0, 1, 1, 6, Some(3), 0.5, None),
        ("corners_2x3x8_score", 0, 2, 3, 8, Some(2), 0.3, Some(0.0)),
        ("center_1x2x7", 1, 1, 2, 7, Some(7), 0.4, None),
        ("no_limit_1x1x5", 0, 1, 1, 5, None, 0.5, None),
        ("empty_boxes", 0, 1, 2, 0, Some(3), 0.5, None),
    ];
    for (sf, center, batch, classes, n, max_out, iou, score) in families {
        let op = Op::NonMaxSuppression {
            center_point_box: center,
        };
        // Center boxes `(x_c, y_c, w, h)` need non-negative sizes; corners may come in any
        // diagonal order.
        let box_domain = if center == 1 {
            Domain::Positive
        } else {
            Domain::Any
        };
        b.each_dtype(op, "non_max_suppression", sf, &FLOATS, 1, 1, |d| {
            vec![
                inp_d(d, &[batch, n, 4], box_domain),
                inp(d, &[batch, classes, n]),
                max_out.map_or(Operand::Absent, |m| {
                    Operand::Const(
                        Tensor::from_slice(&[1], &[m]).unwrap_or_else(|_| Tensor::scalar(0i64)),
                    )
                }),
                float_const(DType::F32, &[1], &[iou]),
                score.map_or(Operand::Absent, |s| float_const(DType::F32, &[1], &[s])),
            ]
        });
    }
}

/// Column blocks `[N, C * prod(block), L]` back into images.
fn col2im(b: &mut Builder) {
    // (family, N, C, image, block, dilations, pads, strides, L)
    type C2i = (
        &'static str,
        usize,
        usize,
        &'static [i64],
        &'static [i64],
        &'static [i64],
        &'static [i64],
        &'static [i64],
        usize,
    );
    let families: [C2i; 4] = [
        ("2d_5x5_b2x2", 1, 1, &[5, 5], &[2, 2], &[], &[], &[], 16),
        (
            "2d_dil_pad_stride",
            2,
            2,
            &[6, 7],
            &[2, 3],
            &[1, 2],
            &[1, 0, 1, 2],
            &[2, 1],
            20,
        ),
        ("1d_9_b3", 1, 2, &[9], &[3], &[], &[], &[], 7),
        (
            "3d_3x4x3_b2",
            1,
            1,
            &[3, 4, 3],
            &[2, 2, 2],
            &[],
            &[],
            &[],
            12,
        ),
    ];
    for (sf, n, c, image, block, dil, pads, strides, l) in families {
        let op = Op::Col2Im {
            dilations: dil.to_vec(),
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        };
        let k: usize = block.iter().product::<i64>() as usize;
        b.each_dtype(op, "col2im", sf, &NUMERIC, 1, k, |d| {
            vec![inp(d, &[n, c * k, l]), ints(image), ints(block)]
        });
    }
}

/// Feature maps `[N, C, H, W]` of the case's dtype; regions and their batch indices are
/// constants: inside the image, overlapping its border, and degenerate (one point).
fn roi_align(b: &mut Builder) {
    let rois: [f64; 16] = [
        0.5, 0.5, 4.5, 3.5, // inside
        1.2, 0.0, 6.9, 5.0, // reaching the right border
        2.0, 2.0, 2.0, 2.0, // a point
        -1.0, -1.5, 3.0, 2.0, // partly outside
    ];
    // (family, mode, output h, output w, sampling ratio, spatial scale, half pixel)
    type Roi = (&'static str, &'static str, i64, i64, i64, f32, bool);
    let families: [Roi; 4] = [
        ("avg_2x3_s2", "avg", 2, 3, 2, 1.0, true),
        ("avg_adaptive", "avg", 3, 3, 0, 1.0, true),
        ("max_2x2_s1", "max", 2, 2, 1, 1.0, false),
        ("avg_scale_half", "avg", 2, 2, 2, 0.5, true),
    ];
    for (sf, mode, oh, ow, ratio, scale, half_pixel) in families {
        let op = Op::RoiAlign {
            half_pixel,
            mode: mode.into(),
            output_height: oh,
            output_width: ow,
            sampling_ratio: ratio,
            spatial_scale: scale,
        };
        b.each_dtype(op, "roi_align", sf, &FLOATS, 1, 4, |d| {
            let batch =
                Tensor::from_slice(&[4], &[0i64, 1, 0, 1]).unwrap_or_else(|_| Tensor::scalar(0i64));
            vec![
                inp(d, &[2, 3, 6, 7]),
                float_const(d, &[4, 4], &rois),
                Operand::Const(batch),
            ]
        });
    }
}

/// `(X, W, offset, B?, mask?)` of the case's dtype: offsets move the taps by up to 4 pixels
/// (also outside the image, where samples are zero).
fn deform_conv(b: &mut Builder) {
    // (family, group, offset group, pads, strides, dilations, X, W, out hw, bias, mask)
    type Dc = (
        &'static str,
        i64,
        usize,
        &'static [i64],
        &'static [i64],
        &'static [i64],
        [usize; 4],
        [usize; 4],
        [usize; 2],
        bool,
        bool,
    );
    let families: [Dc; 4] = [
        (
            "2d_basic",
            1,
            1,
            &[],
            &[],
            &[],
            [1, 2, 5, 5],
            [3, 2, 3, 3],
            [3, 3],
            false,
            false,
        ),
        (
            "2d_bias_mask",
            1,
            1,
            &[],
            &[],
            &[],
            [2, 2, 4, 4],
            [2, 2, 2, 2],
            [3, 3],
            true,
            true,
        ),
        (
            "2d_groups_stride_pad",
            2,
            2,
            &[1, 1, 1, 1],
            &[2, 2],
            &[],
            [1, 4, 5, 5],
            [2, 2, 3, 3],
            [3, 3],
            true,
            false,
        ),
        (
            "2d_dilated_mask",
            1,
            1,
            &[],
            &[],
            &[2, 2],
            [1, 1, 6, 6],
            [2, 1, 2, 2],
            [4, 4],
            false,
            true,
        ),
    ];
    for (sf, group, og, pads, strides, dil, x, w, out, bias, mask) in families {
        let op = Op::DeformConv {
            dilations: dil.to_vec(),
            group,
            kernel_shape: vec![],
            offset_group: og as i64,
            pads: pads.to_vec(),
            strides: strides.to_vec(),
        };
        let taps = w[2] * w[3];
        // Each tap interpolates 4 samples.
        let terms = w[1] * taps * 4;
        b.each_dtype(op, "deform_conv", sf, &FLOATS, 1, terms, |d| {
            vec![
                inp(d, &x),
                inp(d, &w),
                inp(d, &[x[0], og * taps * 2, out[0], out[1]]),
                if bias {
                    inp(d, &[w[0]])
                } else {
                    Operand::Absent
                },
                if mask {
                    inp(d, &[x[0], og * taps, out[0], out[1]])
                } else {
                    Operand::Absent
                },
            ]
        });
    }
}

/// Integer token sequences (values 0..=4, so that the pool's n-grams occur) against a fixed
/// pool of unigrams and bigrams, in each mode.
fn tf_idf_vectorizer(b: &mut Builder) {
    // (family, mode, min, max, skip, weights, X shape)
    type Tf = (
        &'static str,
        &'static str,
        i64,
        i64,
        i64,
        bool,
        &'static [usize],
    );
    let families: [Tf; 4] = [
        ("tf_uni_bi_12", "TF", 1, 2, 0, false, &[12]),
        ("idf_bi_3x8", "IDF", 2, 2, 0, true, &[3, 8]),
        ("tfidf_skip2_2x10", "TFIDF", 1, 2, 2, true, &[2, 10]),
        ("tf_empty_rows", "TF", 1, 1, 0, false, &[0, 6]),
    ];
    for (sf, mode, min, max, skip, weighted, shape) in families {
        let op = Op::TfIdfVectorizer {
            max_gram_length: max,
            max_skip_count: skip,
            min_gram_length: min,
            mode: mode.into(),
            // Unigrams 1, 2, 4 (pool positions 0..3), bigrams (1, 2), (2, 3), (4, 4).
            ngram_counts: vec![0, 3],
            ngram_indexes: vec![0, 1, 2, 3, 5, 6],
            pool_int64s: vec![1, 2, 4, 1, 2, 2, 3, 4, 4],
            weights: if weighted {
                vec![0.5, 1.25, 2.0, 0.75, 3.0, 1.5]
            } else {
                vec![]
            },
        };
        b.each_dtype(op, "tf_idf_vectorizer", sf, &DTYPES, 1, 1, |d| {
            vec![inp_d(d, shape, Domain::SmallExp)]
        });
    }
}
