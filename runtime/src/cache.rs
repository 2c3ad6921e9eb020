//! The kernel cache: compiled artifacts kept in memory for the whole process, keyed by a stable
//! hash of the printed kernel IR, the target's [`TargetDesc`] and the compiler version, so a
//! kernel that appears again (in the same graph, another graph, or a recompilation) is compiled
//! once. A cache may also have a [`DiskCache`]: artifacts (text, and native code its target can
//! [`persist`](Target::persist)) are then found in (and written to) a directory shared by every
//! process, so a second process compiles none of them again.

use crate::disk_cache::{DiskCache, Entry};
use crate::target::{Artifact, Target, TargetError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tessera_ir::kernel::{Kernel, KernelInfo, print_kernel};
use tessera_ir::target::TargetDesc;

/// The compiler version that is part of every cache key: artifacts of another Tessera version
/// are never reused.
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// This build of the program that runs Tessera: the size and modification time of the running
/// executable, hashed (once per process). Part of every cache key, so an on-disk entry made
/// by another build — a changed code generator with an unchanged version number, as during
/// development — is another key, never stale code. `unknown` when the executable cannot be
/// inspected (then only the version tells builds apart).
pub fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let meta = std::env::current_exe().and_then(std::fs::metadata);
        match meta {
            Ok(m) => {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let text = format!("{} {modified}", m.len());
                format!("{:016x}", fnv1a(text.as_bytes()))
            }
            Err(_) => "unknown".to_string(),
        }
    })
}

/// The identity of one compiled kernel: the full key text and its stable 64-bit hash.
///
/// Targets are told apart by their [`TargetDesc`], so two different code generators must not
/// share one (their `name`s differ).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    /// FNV-1a hash of `text` (stable across runs and platforms).
    pub hash: u64,
    /// The printed kernel, the target description, the compiler version and [`build_id`].
    pub text: String,
}

impl CacheKey {
    /// The key of `kernel` compiled for `desc`.
    pub fn new(kernel: &Kernel, desc: &TargetDesc) -> Self {
        let text = format!(
            "tessera {COMPILER_VERSION} build {}\ntarget {desc:?}\n{}",
            build_id(),
            print_kernel(kernel)
        );
        CacheKey {
            hash: fnv1a(text.as_bytes()),
            text,
        }
    }

    /// The key of `kernel` compiled by `target`: [`CacheKey::new`] of its description plus its
    /// [`Target::fingerprint`] (code-generator settings the description does not show).
    pub fn for_target(kernel: &Kernel, target: &dyn Target) -> Self {
        let fingerprint = target.fingerprint();
        if fingerprint.is_empty() {
            return Self::new(kernel, target.desc());
        }
        let text = format!(
            "tessera {COMPILER_VERSION} build {}\ntarget {:?}\nfingerprint {fingerprint}\n{}",
            build_id(),
            target.desc(),
            print_kernel(kernel)
        );
        CacheKey {
            hash: fnv1a(text.as_bytes()),
            text,
        }
    }
}

/// 64-bit FNV-1a: a simple hash whose value never changes between builds (unlike the standard
/// library's hasher), so keys can also name files of an on-disk cache.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Hits and misses of a cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a compiled artifact (in memory or, when it has one, in the disk cache).
    pub hits: u64,
    /// Lookups that had to compile.
    pub misses: u64,
}

/// Compiled artifacts by key. One process-wide instance is [`KernelCache::global`]; separate
/// instances are for tests and embedders that want isolation.
#[derive(Default)]
pub struct KernelCache {
    /// Entries by hash; each keeps its full key text so that a hash collision is a miss.
    entries: Mutex<HashMap<u64, Vec<(String, Artifact)>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The on-disk cache behind this one, if any.
    disk: Option<Arc<DiskCache>>,
}

impl KernelCache {
    /// An empty cache, in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache backed by `disk`.
    pub fn with_disk(disk: Arc<DiskCache>) -> Self {
        KernelCache {
            disk: Some(disk),
            ..Self::default()
        }
    }

    /// The process-wide cache every compiled backend uses by default, backed by the disk cache
    /// the environment asks for ([`DiskCache::from_env`]; off under CI and cargo unless
    /// `TESSERA_CACHE_DIR` is set). `KernelCache::global().disk()` turns it off by API.
    pub fn global() -> &'static KernelCache {
        static GLOBAL: OnceLock<KernelCache> = OnceLock::new();
        GLOBAL.get_or_init(|| KernelCache::with_disk(Arc::new(DiskCache::from_env())))
    }

    /// The disk cache behind this one, if any.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_deref()
    }

    /// The artifact of `kernel` for `target`: from memory, else from the disk cache, else
    /// compiled now (and written to the disk cache: text as it is, native code when the target
    /// persists it; a native entry the target cannot restore is discarded and rebuilt). Returns it with `true`
    /// when nothing was compiled. The lock is not held while compiling, so two threads missing
    /// the same kernel at once both compile it (and both count a miss); the first stored
    /// result is kept.
    pub fn get_or_compile(
        &self,
        target: &dyn Target,
        kernel: &Kernel,
        info: &KernelInfo,
    ) -> Result<(Artifact, bool), TargetError> {
        let key = CacheKey::for_target(kernel, target);
        if let Some(a) = self.lookup(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((a, true));
        }
        if let Some(d) = self.disk.as_deref() {
            let found = match d.load(&key) {
                Some(Entry::Text { language, code }) => Some(Artifact::Text { language, code }),
                Some(Entry::Native(bytes)) => {
                    let restored = target.restore(kernel, &bytes);
                    if restored.is_none() {
                        d.discard(&key);
                    }
                    restored
                }
                None => None,
            };
            if let Some(a) = found {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((self.insert(key, a), true));
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let artifact = target.compile(kernel, info)?;
        if let Some(d) = &self.disk {
            let entry = Entry::of_text(&artifact).or_else(|| {
                d.is_enabled()
                    .then(|| target.persist(&artifact))
                    .flatten()
                    .map(Entry::Native)
            });
            if let Some(entry) = entry {
                d.store(&key, &entry);
            }
        }
        Ok((self.insert(key, artifact), false))
    }

    fn lookup(&self, key: &CacheKey) -> Option<Artifact> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&key.hash)?
            .iter()
            .find(|(text, _)| *text == key.text)
            .map(|(_, a)| a.clone())
    }

    /// Stores an artifact unless one is there already; returns the stored one.
    fn insert(&self, key: CacheKey, artifact: Artifact) -> Artifact {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = entries.entry(key.hash).or_default();
        if let Some((_, a)) = bucket.iter().find(|(text, _)| *text == key.text) {
            return a.clone();
        }
        bucket.push((key.text, artifact.clone()));
        artifact
    }

    /// Hits and misses since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Number of artifacts held.
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values().map(Vec::len).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp_device::InterpTarget;
    use tessera_ir::kernel::parse_kernel;

    fn kernel(text: &str) -> (Kernel, KernelInfo) {
        let k = parse_kernel(text).unwrap();
        let info = tessera_ir::kernel::verify_kernel(&k).unwrap();
        (k, info)
    }

    const COPY: &str = "kernel @copy(%a: f32[2] read, %b: f32[2] write) grid [2] group [1] {\n\
        let %i: u32 = group_id(0)\n  store %b[%i] = load %a[%i]\n}";

    #[test]
    fn fnv_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn second_lookup_hits_and_keys_separate_targets_and_kernels() {
        let cache = KernelCache::new();
        let t = InterpTarget::new();
        let (k, info) = kernel(COPY);
        assert!(!cache.get_or_compile(&t, &k, &info).unwrap().1);
        assert!(cache.get_or_compile(&t, &k, &info).unwrap().1);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1 });
        // Another target description is another key.
        let mut desc = t.desc().clone();
        desc.vector_lanes_f32 = 8;
        let t8 = InterpTarget::with_desc(desc);
        assert!(!cache.get_or_compile(&t8, &k, &info).unwrap().1);
        // So is another kernel (a renamed one included).
        let (k2, info2) = kernel(&COPY.replace("@copy", "@copy2"));
        assert!(!cache.get_or_compile(&t, &k2, &info2).unwrap().1);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 3 });
        let key = CacheKey::new(&k, t.desc());
        assert!(key.text.contains(COMPILER_VERSION) && key.text.contains("@copy"));
        assert_eq!(key, CacheKey::new(&k, t.desc()), "keys are deterministic");
    }
}
