//! The on-disk kernel cache: compiled artifacts kept in a directory across processes, so a
//! second process that compiles the same kernels for the same target renders, validates and
//! compiles none of them again. Text artifacts (WGSL, PTX, a vendor's source) are stored as they
//! are; native ones (the CPU backend's machine code) as the bytes their target's
//! [`Target::persist`](crate::Target::persist) gives, turned back into code by
//! [`Target::restore`](crate::Target::restore).
//!
//! Entries are content-addressed: the file name is the FNV-1a hash of the [`CacheKey`] text
//! (compiler version, target description and fingerprint, printed kernel IR), and the entry
//! holds the whole key text too, so a hash collision is a miss, never a wrong kernel. Each file
//! is written to a temporary file in the same directory, flushed to disk and renamed into place,
//! so a reader sees a whole entry or none, and concurrent writers of one key each rename a whole
//! entry. Every entry starts with a header (magic, format version, lengths, checksum); an entry
//! that is truncated, bit-flipped or of another format is counted as corrupt, removed and
//! rebuilt by the caller.
//!
//! A native entry is machine code this process will run: the cache directory must be as
//! trusted as the program itself (like ccache's or a JIT's code cache). The checksum catches
//! damage, not tampering; `TESSERA_CACHE_DIR=off` turns the cache off.
//!
//! Where: `TESSERA_CACHE_DIR` when set (`off` or empty disables the cache), else
//! `$XDG_CACHE_HOME/tessera`, else `$HOME/.cache/tessera`. When `TESSERA_CACHE_DIR` is unset the
//! cache is off under CI (`CI` set) and in processes started by cargo (`CARGO_MANIFEST_DIR` set:
//! `cargo test`, `cargo run`), so the test suite never writes into the user's home.

use crate::cache::{CacheKey, fnv1a};
use crate::target::Artifact;
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The first bytes of every entry.
pub const MAGIC: &[u8; 8] = b"TESSKC\r\n";
/// The entry layout version; entries of another version are ignored and rewritten.
pub const FORMAT_VERSION: u32 = 1;
/// magic, format version, key length, payload length, checksum.
const HEADER_BYTES: usize = 8 + 4 + 4 + 8 + 8;

/// Counters of an on-disk cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Lookups that found a valid entry.
    pub hits: u64,
    /// Lookups that found no usable entry (absent, corrupt, or another key with the same hash).
    pub misses: u64,
    /// Entries found corrupt (bad magic or version, wrong length, checksum mismatch); each is
    /// also a miss.
    pub corrupt: u64,
    /// Entries written.
    pub writes: u64,
    /// Writes that failed (a read-only or full disk); the cache goes on without them.
    pub write_errors: u64,
}

/// What one entry holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A text artifact: its language (`wgsl`, `ptx`, ...) and its source.
    Text {
        /// The language, as [`Artifact::Text`] names it.
        language: &'static str,
        /// The source.
        code: String,
    },
    /// A native artifact as its target persisted it (see [`crate::Target::persist`]).
    Native(Vec<u8>),
}

/// The language tag of native entries (never a text artifact's language).
const NATIVE: &str = "native";

impl Entry {
    /// The entry of a text artifact; `None` for a native one (its target persists it).
    pub fn of_text(artifact: &Artifact) -> Option<Entry> {
        match artifact {
            Artifact::Text { language, code } if *language != NATIVE => Some(Entry::Text {
                language,
                code: code.clone(),
            }),
            _ => None,
        }
    }
}

/// A directory of compiled artifacts (see the module docs).
#[derive(Debug)]
pub struct DiskCache {
    dir: Option<PathBuf>,
    enabled: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
}

impl DiskCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_dir(Some(dir.into()))
    }

    /// A cache that stores and finds nothing.
    pub fn disabled() -> Self {
        Self::with_dir(None)
    }

    fn with_dir(dir: Option<PathBuf>) -> Self {
        DiskCache {
            enabled: AtomicBool::new(dir.is_some()),
            dir,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        }
    }

    /// The cache the environment asks for (see the module docs for the rules).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self::with_dir(default_dir(
            std::env::var_os("TESSERA_CACHE_DIR").map(PathBuf::from),
            var("CI").is_some() || var("CARGO_MANIFEST_DIR").is_some(),
            var("XDG_CACHE_HOME").map(PathBuf::from),
            var("HOME").map(PathBuf::from),
        ))
    }

    /// The process-wide cache, from the environment at first use.
    pub fn global() -> &'static DiskCache {
        static GLOBAL: OnceLock<DiskCache> = OnceLock::new();
        GLOBAL.get_or_init(DiskCache::from_env)
    }

    /// The directory, when the cache has one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// True when lookups and writes go to disk.
    pub fn is_enabled(&self) -> bool {
        self.dir.is_some() && self.enabled.load(Ordering::Relaxed)
    }

    /// Turns the cache off (or back on, when it has a directory) for this process.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The file that holds `key`'s entry.
    pub fn entry_path(&self, key: &CacheKey) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{:016x}.tkc", key.hash)))
    }

    /// The stored entry of `key`, if a valid one is there. A corrupt entry is removed.
    pub fn load(&self, key: &CacheKey) -> Option<Entry> {
        if !self.is_enabled() {
            return None;
        }
        let path = self.entry_path(key)?;
        let found = match fs::read(&path) {
            Ok(bytes) => match decode(bytes, &key.text) {
                Decoded::Hit(a) => Some(a),
                Decoded::OtherKey => None,
                Decoded::Corrupt => {
                    self.discard(key);
                    None
                }
            },
            Err(_) => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Counts `key`'s entry as corrupt and removes it: for an entry whose checksum held but
    /// whose contents its target could not use (a native entry [`crate::Target::restore`]
    /// refused). The caller rebuilds it.
    pub fn discard(&self, key: &CacheKey) {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = self.entry_path(key) {
            // Best effort: the rebuilt entry replaces it anyway.
            let _ = fs::remove_file(path);
        }
    }

    /// Stores `entry` under `key`. Returns true when an entry was written. Failures are
    /// counted, never fatal.
    pub fn store(&self, key: &CacheKey, entry: &Entry) -> bool {
        if !self.is_enabled() {
            return false;
        }
        let Some(path) = self.entry_path(key) else {
            return false;
        };
        let (language, payload) = match entry {
            Entry::Text { language, code } => (*language, code.as_bytes()),
            Entry::Native(bytes) => (NATIVE, bytes.as_slice()),
        };
        match write_atomic(&path, &encode(&key.text, language, payload)) {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> DiskCacheStats {
        DiskCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

/// The cache directory from `TESSERA_CACHE_DIR` (`explicit`), whether the process runs under CI
/// or cargo (`hermetic`), `XDG_CACHE_HOME` and `HOME`.
fn default_dir(
    explicit: Option<PathBuf>,
    hermetic: bool,
    xdg: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        let off = dir.as_os_str().is_empty() || dir.as_os_str() == "off";
        return (!off).then_some(dir);
    }
    if hermetic {
        return None;
    }
    xdg.map(|x| x.join("tessera"))
        .or_else(|| home.map(|h| h.join(".cache").join("tessera")))
}

/// The entry of `key_text` holding `code` in `language` (`native`: machine-code bytes):
/// header, then the key text, then `language\n`, then the code.
fn encode(key_text: &str, language: &str, code: &[u8]) -> Vec<u8> {
    let payload_len = language.len() + 1 + code.len();
    let mut body = Vec::with_capacity(key_text.len() + payload_len);
    body.extend_from_slice(key_text.as_bytes());
    body.extend_from_slice(language.as_bytes());
    body.push(b'\n');
    body.extend_from_slice(code);
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Key texts are far below 4 GiB (a printed kernel); saturating keeps a giant one invalid.
    out.extend_from_slice(
        &u32::try_from(key_text.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

enum Decoded {
    Hit(Entry),
    /// A valid entry of another key with the same hash.
    OtherKey,
    Corrupt,
}

fn decode(mut bytes: Vec<u8>, key_text: &str) -> Decoded {
    let Some((header, body)) = bytes.split_at_checked(HEADER_BYTES) else {
        return Decoded::Corrupt;
    };
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_le_bytes(b)
    };
    if &header[..8] != MAGIC || u32_at(8) != FORMAT_VERSION {
        return Decoded::Corrupt;
    }
    let key_len = u32_at(12) as usize;
    let payload_len = u64_at(16);
    if key_len as u64 + payload_len != body.len() as u64 || fnv1a(body) != u64_at(24) {
        return Decoded::Corrupt;
    }
    let (key, payload) = body.split_at(key_len);
    if key != key_text.as_bytes() {
        return Decoded::OtherKey;
    }
    let Some(newline) = payload.iter().position(|&b| b == b'\n') else {
        return Decoded::Corrupt;
    };
    let Ok(language) = std::str::from_utf8(&payload[..newline]) else {
        return Decoded::Corrupt;
    };
    if language == NATIVE {
        let start = HEADER_BYTES + key_len + newline + 1;
        return Decoded::Hit(Entry::Native(bytes.split_off(start)));
    }
    let Ok(code) = std::str::from_utf8(&payload[newline + 1..]) else {
        return Decoded::Corrupt;
    };
    Decoded::Hit(Entry::Text {
        language: intern(language),
        code: code.to_string(),
    })
}

/// `Artifact::Text` names its language with a `&'static str`: each distinct name read from disk
/// is leaked once (there are a handful: `wgsl`, `ptx`, a vendor's).
fn intern(language: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let set = names.get_or_insert_with(HashSet::new);
    if let Some(&s) = set.get(language) {
        return s;
    }
    let s: &'static str = Box::leak(language.to_string().into_boxed_str());
    set.insert(s);
    s
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk and renames it over
/// `path`: readers see the old entry, or the new one whole.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::KernelCache;
    use crate::interp_device::InterpTarget;
    use crate::target::{Target, TargetError};
    use std::sync::Arc;
    use tessera_ir::kernel::{Kernel, KernelInfo, parse_kernel, print_kernel, verify_kernel};
    use tessera_ir::target::TargetDesc;

    /// A text target that counts its compiles: its "code" is the printed kernel.
    struct TextTarget {
        desc: TargetDesc,
        compiles: AtomicU64,
    }

    impl TextTarget {
        fn new() -> Self {
            TextTarget {
                desc: InterpTarget::new().desc().clone(),
                compiles: AtomicU64::new(0),
            }
        }
        fn compiles(&self) -> u64 {
            self.compiles.load(Ordering::Relaxed)
        }
    }

    impl Target for TextTarget {
        fn desc(&self) -> &TargetDesc {
            &self.desc
        }
        fn fingerprint(&self) -> String {
            "test-text".into()
        }
        fn compile(&self, kernel: &Kernel, _: &KernelInfo) -> Result<Artifact, TargetError> {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            Ok(Artifact::Text {
                language: "test",
                code: format!("// compiled\n{}", print_kernel(kernel)),
            })
        }
    }

    const COPY: &str = "kernel @copy(%a: f32[2] read, %b: f32[2] write) grid [2] group [1] {\n\
        let %i: u32 = group_id(0)\n  store %b[%i] = load %a[%i]\n}";

    fn copy_kernel() -> (Kernel, KernelInfo) {
        let k = parse_kernel(COPY).unwrap();
        let info = verify_kernel(&k).unwrap();
        (k, info)
    }

    /// A fresh in-memory cache over the directory: what a new process sees.
    fn process(dir: &Path) -> (KernelCache, Arc<DiskCache>) {
        let disk = Arc::new(DiskCache::new(dir));
        (KernelCache::with_disk(Arc::clone(&disk)), disk)
    }

    fn code(a: &Artifact) -> &str {
        match a {
            Artifact::Text { code, .. } => code,
            Artifact::Native(_) => panic!("a native artifact"),
        }
    }

    #[test]
    fn a_second_process_compiles_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let t = TextTarget::new();
        let (k, info) = copy_kernel();
        let (first, disk1) = process(tmp.path());
        let (a1, hit) = first.get_or_compile(&t, &k, &info).unwrap();
        assert!(!hit);
        assert_eq!(disk1.stats().writes, 1);
        let (second, disk2) = process(tmp.path());
        let (a2, hit) = second.get_or_compile(&t, &k, &info).unwrap();
        assert!(hit, "the warm process finds the kernel on disk");
        assert_eq!(t.compiles(), 1);
        assert_eq!(code(&a1), code(&a2));
        assert_eq!(second.stats(), crate::CacheStats { hits: 1, misses: 0 });
        assert_eq!(
            disk2.stats(),
            DiskCacheStats {
                hits: 1,
                ..DiskCacheStats::default()
            }
        );
        // The API switch: a disabled cache neither finds nor writes.
        let (third, disk3) = process(tmp.path());
        disk3.set_enabled(false);
        assert!(!third.get_or_compile(&t, &k, &info).unwrap().1);
        assert_eq!(t.compiles(), 2);
        assert_eq!(disk3.stats(), DiskCacheStats::default());
        // Another fingerprint is another entry.
        let other = DiskCache::new(tmp.path());
        let key = crate::cache::CacheKey::new(&k, t.desc());
        assert!(other.load(&key).is_none());
    }

    #[test]
    fn truncated_and_bit_flipped_entries_are_detected_and_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let t = TextTarget::new();
        let (k, info) = copy_kernel();
        let (first, disk) = process(tmp.path());
        let (good, _) = first.get_or_compile(&t, &k, &info).unwrap();
        let path = disk
            .entry_path(&crate::cache::CacheKey::for_target(&k, &t))
            .unwrap();
        let whole = fs::read(&path).unwrap();
        let mut flipped = whole.clone();
        let at = flipped.len() - 3;
        flipped[at] ^= 0x01;
        for (n, damaged) in [whole[..whole.len() / 2].to_vec(), flipped]
            .into_iter()
            .enumerate()
        {
            fs::write(&path, &damaged).unwrap();
            let (cache, disk) = process(tmp.path());
            let compiles = t.compiles();
            let (a, hit) = cache.get_or_compile(&t, &k, &info).unwrap();
            assert!(!hit, "case {n}: a damaged entry is a miss");
            assert_eq!(t.compiles(), compiles + 1, "case {n}: rebuilt");
            assert_eq!(code(&a), code(&good));
            assert_eq!(disk.stats().corrupt, 1, "case {n}");
            assert_eq!(disk.stats().writes, 1, "case {n}");
            assert_eq!(
                fs::read(&path).unwrap(),
                whole,
                "case {n}: the entry is whole again"
            );
        }
    }

    #[test]
    fn concurrent_writers_of_one_key_leave_one_whole_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let t = Arc::new(TextTarget::new());
        let (k, info) = copy_kernel();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (t, k, info) = (Arc::clone(&t), k.clone(), info.clone());
                let dir = tmp.path().to_path_buf();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        // A fresh "process" each time: every one misses in memory and writes.
                        let (cache, _) = process(&dir);
                        let (a, _) = cache.get_or_compile(&*t, &k, &info).unwrap();
                        assert!(code(&a).starts_with("// compiled"));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "no temporary file is left behind: {names:?}"
        );
        let (cache, disk) = process(tmp.path());
        assert!(cache.get_or_compile(&*t, &k, &info).unwrap().1);
        assert_eq!(disk.stats().corrupt, 0);
    }

    #[test]
    fn the_directory_follows_the_environment_rules() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(default_dir(p("/c"), true, None, None), p("/c"));
        assert_eq!(default_dir(p("off"), false, p("/x"), p("/h")), None);
        assert_eq!(default_dir(p(""), false, p("/x"), p("/h")), None);
        assert_eq!(default_dir(None, true, p("/x"), p("/h")), None);
        assert_eq!(default_dir(None, false, p("/x"), p("/h")), p("/x/tessera"));
        assert_eq!(
            default_dir(None, false, None, p("/h")),
            p("/h/.cache/tessera")
        );
        assert_eq!(default_dir(None, false, None, None), None);
    }

    #[test]
    fn every_single_byte_change_and_every_truncation_is_caught() {
        for (language, code) in [
            ("wgsl", &b"fn main() {}"[..]),
            (NATIVE, &[0, 10, 255, 7][..]),
        ] {
            let e = encode("key", language, code);
            match decode(e.clone(), "key") {
                Decoded::Hit(Entry::Text {
                    language: l,
                    code: c,
                }) => {
                    assert_eq!((l, c.as_bytes()), (language, code));
                }
                Decoded::Hit(Entry::Native(bytes)) => {
                    assert_eq!((language, bytes.as_slice()), (NATIVE, code));
                }
                _ => panic!("{language}: not read back"),
            }
            assert!(matches!(decode(e.clone(), "other"), Decoded::OtherKey));
            for i in 0..e.len() {
                let mut bad = e.clone();
                bad[i] ^= 0x10;
                assert!(
                    matches!(decode(bad, "key"), Decoded::Corrupt),
                    "{language}: flip at {i}"
                );
                assert!(
                    matches!(decode(e[..i].to_vec(), "key"), Decoded::Corrupt),
                    "{language}: cut at {i}"
                );
            }
        }
    }

    /// A native target: its "machine code" is the kernel's name; `restore` accepts only bytes
    /// that start with its format tag.
    struct NativeTarget {
        desc: TargetDesc,
        compiles: AtomicU64,
        restores: AtomicU64,
    }

    const TAG: &[u8] = b"fake-native-v1:";

    impl Target for NativeTarget {
        fn desc(&self) -> &TargetDesc {
            &self.desc
        }
        fn fingerprint(&self) -> String {
            "test-native".into()
        }
        fn compile(&self, kernel: &Kernel, _: &KernelInfo) -> Result<Artifact, TargetError> {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            Ok(Artifact::Native(Arc::new(kernel.name.clone())))
        }
        fn persist(&self, artifact: &Artifact) -> Option<Vec<u8>> {
            let Artifact::Native(a) = artifact else {
                return None;
            };
            let name = a.downcast_ref::<String>()?;
            Some([TAG, name.as_bytes()].concat())
        }
        fn restore(&self, _: &Kernel, bytes: &[u8]) -> Option<Artifact> {
            let name = std::str::from_utf8(bytes.strip_prefix(TAG)?).ok()?;
            self.restores.fetch_add(1, Ordering::Relaxed);
            Some(Artifact::Native(Arc::new(name.to_string())))
        }
    }

    #[test]
    fn native_artifacts_persist_and_unusable_ones_are_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let t = NativeTarget {
            desc: InterpTarget::new().desc().clone(),
            compiles: AtomicU64::new(0),
            restores: AtomicU64::new(0),
        };
        let (k, info) = copy_kernel();
        let name = |a: &Artifact| match a {
            Artifact::Native(a) => a.downcast_ref::<String>().unwrap().clone(),
            Artifact::Text { .. } => panic!("a text artifact"),
        };
        let (first, disk1) = process(tmp.path());
        assert!(!first.get_or_compile(&t, &k, &info).unwrap().1);
        assert_eq!(disk1.stats().writes, 1);
        let (second, _) = process(tmp.path());
        let (a, hit) = second.get_or_compile(&t, &k, &info).unwrap();
        assert!(hit, "the warm process restores the native artifact");
        assert_eq!(name(&a), "copy");
        assert_eq!(t.compiles.load(Ordering::Relaxed), 1);
        assert_eq!(t.restores.load(Ordering::Relaxed), 1);
        // An entry whose checksum holds but whose bytes the target refuses (another format
        // version, another machine) is discarded, counted corrupt and rebuilt.
        let key = crate::cache::CacheKey::for_target(&k, &t);
        assert!(disk1.store(&key, &Entry::Native(b"other-format".to_vec())));
        let (third, disk3) = process(tmp.path());
        assert!(!third.get_or_compile(&t, &k, &info).unwrap().1);
        assert_eq!(t.compiles.load(Ordering::Relaxed), 2);
        assert_eq!(disk3.stats().corrupt, 1);
        assert_eq!(disk3.stats().writes, 1);
        let (fourth, _) = process(tmp.path());
        assert!(fourth.get_or_compile(&t, &k, &info).unwrap().1);
        assert_eq!(t.compiles.load(Ordering::Relaxed), 2);
        // A target without persist keeps native artifacts in memory only.
        let tmp2 = tempfile::tempdir().unwrap();
        let (fifth, disk5) = process(tmp2.path());
        let plain = InterpTarget::new();
        let _ = fifth.get_or_compile(&plain, &k, &info).unwrap();
        assert_eq!(disk5.stats().writes, 0);
    }
}
