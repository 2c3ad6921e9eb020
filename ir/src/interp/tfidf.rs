//! Interpreter for TfIdfVectorizer over integer n-grams.

use crate::error::{At, IrError, Result};
use crate::interp::values::{eval_err, need, read_ints};
use crate::op::Op;
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// The validated configuration of a TfIdfVectorizer node.
pub(crate) struct Config {
    /// The pool's n-grams of the counted sizes, to their position in the pool (0-based).
    grams: HashMap<Vec<i64>, usize>,
    /// Every prefix of a counted n-gram (the search stops at anything else).
    prefixes: HashSet<Vec<i64>>,
    min: usize,
    max: usize,
    max_skip: usize,
    /// Output columns.
    pub(crate) output_size: usize,
}

/// Checks the attributes and builds the n-gram tables; the message says what is wrong.
pub(crate) fn config(op: &Op) -> std::result::Result<Config, String> {
    let Op::TfIdfVectorizer {
        max_gram_length,
        max_skip_count,
        min_gram_length,
        mode,
        ngram_counts,
        ngram_indexes,
        pool_int64s,
        weights,
    } = op
    else {
        return Err("not TfIdfVectorizer".into());
    };
    if !matches!(mode.as_str(), "TF" | "IDF" | "TFIDF") {
        return Err(format!("mode must be TF, IDF or TFIDF, got `{mode}`"));
    }
    let (min, max, skip) = (*min_gram_length, *max_gram_length, *max_skip_count);
    if min < 1 || max < min || skip < 0 {
        return Err(format!(
            "need 1 <= min_gram_length ({min}) <= max_gram_length ({max}) and max_skip_count ({skip}) >= 0"
        ));
    }
    if ngram_indexes.iter().any(|&i| i < 0)
        || (!weights.is_empty() && weights.len() != ngram_indexes.len())
    {
        return Err("ngram_indexes must be non-negative and weights as long as them".into());
    }
    let total = pool_int64s.len();
    let mut grams = HashMap::new();
    let mut prefixes = HashSet::new();
    let mut id = 0usize;
    for (k, &start) in ngram_counts.iter().enumerate() {
        let size = k + 1;
        let end = ngram_counts.get(k + 1).copied().unwrap_or(total as i64);
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Err("ngram_counts must be non-negative".into());
        };
        if end < start || end > total {
            return Err(format!(
                "ngram_counts {ngram_counts:?} do not fit a pool of {total}"
            ));
        }
        for g in pool_int64s[start..end].chunks(size) {
            if (min as usize..=max as usize).contains(&size) && g.len() == size {
                for p in 1..=size {
                    prefixes.insert(g[..p].to_vec());
                }
                grams.entry(g.to_vec()).or_insert(id);
            }
            id += 1;
        }
    }
    if id > ngram_indexes.len() {
        return Err(format!(
            "the pool has {id} n-grams but ngram_indexes {}",
            ngram_indexes.len()
        ));
    }
    let output_size = ngram_indexes.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Config {
        grams,
        prefixes,
        min: min as usize,
        max: max as usize,
        max_skip: skip as usize,
        output_size,
    })
}

/// Counts per pool n-gram in one row (indices into the pool's n-grams).
fn count_row(cfg: &Config, row: &[i64], counts: &mut HashMap<usize, u64>) {
    let n = row.len();
    let mut start_size = cfg.min;
    for skip in 1..=cfg.max_skip + 1 {
        for begin in 0..n {
            if begin + skip * (start_size - 1) >= n {
                break;
            }
            let mut gram = Vec::new();
            let mut at = begin;
            while gram.len() < cfg.max && at < n {
                gram.push(row[at]);
                if !cfg.prefixes.contains(&gram) {
                    break;
                }
                if gram.len() >= start_size
                    && let Some(&id) = cfg.grams.get(&gram)
                {
                    *counts.entry(id).or_insert(0) += 1;
                }
                at += skip;
            }
        }
        // Unigrams do not depend on the skip: count them at the first distance only.
        if start_size == 1 {
            start_size = 2;
            if start_size > cfg.max {
                break;
            }
        }
    }
}

/// Evaluates TfIdfVectorizer.
pub fn eval(op: &Op, at: &At, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let cfg = config(op).map_err(|m| eval_err(at, m))?;
    let Op::TfIdfVectorizer {
        mode,
        ngram_indexes,
        weights,
        ..
    } = op
    else {
        return Err(eval_err(at, "not TfIdfVectorizer"));
    };
    let x = need(inputs, 0, at)?;
    if !x.dtype().is_int() {
        return Err(IrError::Unsupported {
            at: at.clone(),
            dtype: x.dtype(),
            detail: Some("TfIdfVectorizer reads integer n-grams".into()),
        });
    }
    let v = read_ints(x, at, "X")?;
    let (rows, len) = match x.shape() {
        [l] => (1, *l),
        [b, l] => (*b, *l),
        _ => {
            return Err(eval_err(
                at,
                format!("X must be 1-D or 2-D, got {}", x.ir_shape()),
            ));
        }
    };
    let o = cfg.output_size;
    let mut out = vec![0f32; rows * o];
    for r in 0..rows {
        let mut counts = HashMap::new();
        count_row(&cfg, &v[r * len..(r + 1) * len], &mut counts);
        for (&id, &c) in &counts {
            let col = ngram_indexes[id] as usize;
            let w = weights.get(id).copied().unwrap_or(1.0);
            out[r * o + col] = match mode.as_str() {
                "TF" => c as f32,
                "IDF" => w,
                _ => w * c as f32,
            };
        }
    }
    let shape: Vec<usize> = if x.rank() == 1 {
        vec![o]
    } else {
        vec![rows, o]
    };
    Ok(vec![Tensor::from_vec(&shape, out)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn op(mode: &str, min: i64, max: i64, skip: i64, weights: Vec<f32>) -> Op {
        // Pool: unigrams [2, 3, 5, 4], bigrams [5, 6], [7, 8], [6, 7]; output columns 0..7.
        Op::TfIdfVectorizer {
            max_gram_length: max,
            max_skip_count: skip,
            min_gram_length: min,
            mode: mode.into(),
            ngram_counts: vec![0, 4],
            ngram_indexes: vec![0, 1, 2, 3, 4, 5, 6],
            pool_int64s: vec![2, 3, 5, 4, 5, 6, 7, 8, 6, 7],
            weights,
        }
    }

    fn at() -> At {
        At {
            node: "n".into(),
            op: "tf_idf_vectorizer",
        }
    }

    fn run(op: &Op, x: &Tensor) -> Result<Vec<f64>> {
        let t = eval(op, &at(), &[Some(x)])?.remove(0);
        Ok((0..t.len()).map(|i| t.get_f64(i)).collect())
    }

    /// ONNX's `tf_uniandbigrams_skip5` data; expected values from its test.
    fn x() -> Tensor {
        Tensor::from_vec(&[12], vec![1i32, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8]).unwrap()
    }

    #[test]
    fn counts_and_weights() {
        let out = run(&op("TF", 1, 2, 5, vec![]), &x()).unwrap();
        assert_eq!(out, vec![0., 3., 1., 0., 1., 3., 1.]);
        let out = run(&op("TF", 2, 2, 0, vec![]), &x()).unwrap();
        assert_eq!(out, vec![0., 0., 0., 0., 1., 1., 1.]);
        let w = vec![1., 1., 1., 1., 2., 3., 4.];
        let out = run(&op("IDF", 2, 2, 0, w.clone()), &x()).unwrap();
        assert_eq!(out, vec![0., 0., 0., 0., 2., 3., 4.]);
        let out = run(&op("TFIDF", 1, 1, 0, w), &x()).unwrap();
        assert_eq!(out, vec![0., 3., 1., 0., 0., 0., 0.]);
        let batch = Tensor::from_vec(&[2, 3], vec![5i64, 6, 6, 2, 2, 9]).unwrap();
        let out = run(&op("TF", 1, 2, 0, vec![]), &batch).unwrap();
        assert_eq!(
            out,
            vec![0., 0., 1., 0., 1., 0., 0., 2., 0., 0., 0., 0., 0., 0.]
        );
    }

    #[test]
    fn errors() {
        let f = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let r = run(&op("TF", 1, 2, 0, vec![]), &f);
        assert!(
            matches!(
                r,
                Err(IrError::Unsupported {
                    dtype: DType::F32,
                    ..
                })
            ),
            "{r:?}"
        );
        assert!(run(&op("BM25", 1, 2, 0, vec![]), &x()).is_err());
        assert!(run(&op("TF", 3, 2, 0, vec![]), &x()).is_err());
        assert!(run(&op("TF", 1, 2, 0, vec![1.0]), &x()).is_err());
    }
}
