//! Machine code kept across processes: the bytes [`crate::CpuTarget`] gives the on-disk kernel
//! cache ([`tessera_runtime::Target::persist`]) and the loader that turns them back into a
//! runnable kernel ([`tessera_runtime::Target::restore`]).
//!
//! A Cranelift kernel is one function: its finalized code (constants included) and the list of
//! its relocations, each an absolute 64-bit address (`Abs8`, what Cranelift emits for calls
//! when `is_pic` is off) of a named helper of [`crate::math`] or a C library function. Loading
//! copies the code into fresh pages, writes those addresses (looked up in this process, so
//! address-space randomization does not matter) and makes the pages executable. A function
//! with any other relocation is not persisted.
//!
//! An LLVM kernel is a relocatable object file, loaded by LLVM's ORC JIT linker (see
//! `crate::llvm`).
//!
//! Layout (little-endian): the magic `TESSCPU\x01`, a code-generator byte (0 Cranelift, 1
//! LLVM), then for Cranelift the code length (u64), the code, the relocation count (u32) and
//! per relocation its offset (u32), kind (u8, 1 = `Abs8`), addend (i64), symbol length (u16)
//! and symbol; for LLVM the object file. Every length and offset is checked before use: a
//! damaged entry is refused (the cache then rebuilds it), never run. Which host the code was
//! made for is part of the target's fingerprint, so entries of another CPU are another key.

use crate::math::helpers;

/// The first bytes of every persisted kernel (the last byte is the layout version).
const MAGIC: &[u8; 8] = b"TESSCPU\x01";
/// Code-generator tags.
const CRANELIFT: u8 = 0;
#[cfg(feature = "llvm")]
const LLVM: u8 = 1;
/// Relocation kinds.
const ABS8: u8 = 1;

/// One relocation of a Cranelift function: at `offset`, the address of `symbol` plus
/// `addend`, as 8 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Abs8 {
    /// Byte offset into the code.
    pub offset: u32,
    /// Added to the symbol's address.
    pub addend: i64,
    /// A helper of [`crate::math`] or a C library function.
    pub symbol: String,
}

/// A Cranelift function ready to be written out: its code and relocations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClifCode {
    /// The finalized machine code, constants included.
    pub code: Vec<u8>,
    /// Where addresses go.
    pub relocs: Vec<Abs8>,
}

/// What a persisted kernel holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Persisted {
    /// A Cranelift function.
    Cranelift(ClifCode),
    /// An LLVM object file.
    #[cfg(feature = "llvm")]
    Llvm(Vec<u8>),
}

impl Persisted {
    /// The bytes of this kernel (the module docs give the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        match self {
            Persisted::Cranelift(c) => {
                out.push(CRANELIFT);
                out.extend_from_slice(&(c.code.len() as u64).to_le_bytes());
                out.extend_from_slice(&c.code);
                out.extend_from_slice(&(c.relocs.len() as u32).to_le_bytes());
                for r in &c.relocs {
                    out.extend_from_slice(&r.offset.to_le_bytes());
                    out.push(ABS8);
                    out.extend_from_slice(&r.addend.to_le_bytes());
                    let name = r.symbol.as_bytes();
                    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                    out.extend_from_slice(name);
                }
            }
            #[cfg(feature = "llvm")]
            Persisted::Llvm(object) => {
                out.push(LLVM);
                out.extend_from_slice(object);
            }
        }
        out
    }

    /// Reads bytes [`Persisted::encode`] made; `None` for anything else (another layout,
    /// damage, a relocation outside the code, an LLVM object in a build without LLVM).
    pub fn decode(bytes: &[u8]) -> Option<Persisted> {
        let mut r = Reader(bytes.strip_prefix(MAGIC.as_slice())?);
        match r.u8()? {
            CRANELIFT => {
                let len = usize::try_from(r.u64()?).ok()?;
                let code = r.take(len)?.to_vec();
                let count = r.u32()?;
                let mut relocs = Vec::new();
                for _ in 0..count {
                    let offset = r.u32()?;
                    if r.u8()? != ABS8 {
                        return None;
                    }
                    let addend = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
                    let n = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
                    let symbol = std::str::from_utf8(r.take(n)?).ok()?.to_string();
                    let end = (offset as usize).checked_add(8)?;
                    if end > code.len() {
                        return None;
                    }
                    relocs.push(Abs8 {
                        offset,
                        addend,
                        symbol,
                    });
                }
                r.0.is_empty()
                    .then_some(Persisted::Cranelift(ClifCode { code, relocs }))
            }
            #[cfg(feature = "llvm")]
            LLVM => Some(Persisted::Llvm(r.0.to_vec())),
            _ => None,
        }
    }
}

/// A cursor over bytes; every read fails instead of running past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The address of `symbol` in this process: a helper of [`crate::math`], else a C library
/// function (`fmaf`, `ceilf`, ... that Cranelift calls when the host lacks an instruction).
pub(crate) fn symbol_address(symbol: &str) -> Option<usize> {
    if let Some(h) = helpers().into_iter().find(|h| h.name == symbol) {
        return Some(h.addr as usize);
    }
    let name = std::ffi::CString::new(symbol).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string; RTLD_DEFAULT searches the symbols the
    // process already has loaded and returns null when there is none.
    let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!addr.is_null()).then_some(addr as usize)
}

/// Cranelift code loaded into executable pages of this process.
pub(crate) struct LoadedCode {
    map: memmap2::Mmap,
}

impl LoadedCode {
    /// Copies `c` into fresh pages, writes its relocations and makes the pages executable;
    /// `None` when a symbol is unknown here or the pages cannot be had.
    pub fn load(c: &ClifCode) -> Option<LoadedCode> {
        let mut map = memmap2::MmapMut::map_anon(c.code.len().max(1)).ok()?;
        map[..c.code.len()].copy_from_slice(&c.code);
        for r in &c.relocs {
            let at = r.offset as usize;
            let value = (symbol_address(&r.symbol)? as u64).wrapping_add_signed(r.addend);
            map.get_mut(at..at + 8)?
                .copy_from_slice(&value.to_le_bytes());
        }
        Some(LoadedCode {
            map: map.make_exec().ok()?,
        })
    }

    /// The first byte of the code (the function's entry).
    pub fn entry(&self) -> *const u8 {
        self.map.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Persisted {
        Persisted::Cranelift(ClifCode {
            code: (0u8..40).collect(),
            relocs: vec![Abs8 {
                offset: 4,
                addend: -3,
                symbol: "fmaf".into(),
            }],
        })
    }

    #[test]
    fn encoding_round_trips_and_damage_is_refused() {
        let bytes = sample().encode();
        assert_eq!(Persisted::decode(&bytes), Some(sample()));
        for cut in 0..bytes.len() {
            assert_eq!(Persisted::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Persisted::decode(&longer), None);
        let outside = Persisted::Cranelift(ClifCode {
            code: (0u8..40).collect(),
            relocs: vec![Abs8 {
                offset: 33,
                addend: 0,
                symbol: "fmaf".into(),
            }],
        });
        assert_eq!(Persisted::decode(&outside.encode()), None);
        let mut other_version = bytes;
        other_version[7] = 2;
        assert_eq!(Persisted::decode(&other_version), None);
    }

    #[test]
    fn symbols_resolve_to_helpers_and_libc() {
        let h = helpers().into_iter().next().expect("a helper");
        assert_eq!(symbol_address(h.name), Some(h.addr as usize));
        assert!(symbol_address("fmaf").is_some());
        assert_eq!(symbol_address("tessera_no_such_symbol"), None);
    }
}
