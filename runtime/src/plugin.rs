//! Backend plugins: a vendor's backend built as a shared library (`cdylib`) that a Tessera
//! program (the `tessera` command, or any program that calls [`load_plugin`]) loads at run
//! time, so that `tessera devices`, `tessera run --backend NAME` and
//! `tessera conformance --backend NAME` reach a backend that is not compiled into Tessera.
//!
//! The vendor writes one line in the crate's `lib.rs` (with `crate-type = ["cdylib", "rlib"]`):
//!
//! ```ignore
//! tessera_runtime::export_backend!(my_backend::backend());
//! ```
//!
//! The library and the program exchange Rust values (`Arc<dyn Backend>`, graphs, tensors), so
//! both must lay them out alike: same Tessera source, same rustc, same target. The library
//! exports its [`ABI_TAG`] through a C function, which [`load_plugin`] compares with its own
//! before it calls anything else; a mismatch is a typed error
//! ([`RuntimeError::PluginAbi`]), never a call. Both sides must also use the system allocator
//! (Rust's default): values allocated on one side are freed on the other.
//!
//! A panic may not unwind from the library into the program (each has its own Rust runtime,
//! and one cannot catch the other's panics), so [`export_backend!`](crate::export_backend)
//! wraps every backend in [`Guarded`]: each call into it catches panics inside the library and
//! returns them as [`RuntimeError::BackendPanic`] (or an unavailable / unsupported answer).
//! A loaded library is never unloaded: the backends' code lives in it.

use crate::backend::{Availability, Backend, Executable, NamedTensors, OpSupport};
use crate::error::RuntimeError;
use crate::placement::Placement;
use std::any::Any;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use tessera_ir::{DType, Graph, Op, Tensor};

const ABI_TAG_NUL: &str = concat!(
    "tessera-plugin/1 tessera ",
    env!("CARGO_PKG_VERSION"),
    " source ",
    env!("TESSERA_PLUGIN_SOURCE"),
    "; ",
    env!("TESSERA_PLUGIN_RUSTC"),
    "; ",
    env!("TESSERA_PLUGIN_TARGET"),
    "\0"
);

/// What a plugin and the program that loads it must agree on: the plugin interface's revision
/// (`tessera-plugin/1`: the exported symbols and their types),
/// Tessera's version and a hash of the source of `tessera-ir` and `tessera-runtime` (the crates
/// whose types cross the boundary), the rustc that compiled them, and the target triple.
pub const ABI_TAG: &CStr = match CStr::from_bytes_with_nul(ABI_TAG_NUL.as_bytes()) {
    Ok(tag) => tag,
    Err(_) => panic!("the ABI tag has an interior NUL"),
};

/// The name of the C function that returns a plugin's ABI tag.
pub const ABI_SYMBOL: &str = "tessera_plugin_abi";
/// The name of the (Rust) function that returns a plugin's backends.
pub const BACKENDS_SYMBOL: &str = "tessera_plugin_backends";

/// [`ABI_TAG`] as text.
pub fn abi_tag() -> &'static str {
    ABI_TAG.to_str().unwrap_or("tessera-plugin/?")
}

/// The type of the exported function that returns a plugin's backends.
pub type BackendsFn = fn() -> Result<Vec<Arc<dyn Backend>>, String>;

/// Loads the backend plugin at `path` and returns its backends (already wrapped in
/// [`Guarded`] by the plugin). The library stays loaded for the rest of the process.
///
/// Errors: the file cannot be opened or lacks the plugin symbols
/// ([`RuntimeError::PluginLoad`]); it was built for another Tessera, rustc or target
/// ([`RuntimeError::PluginAbi`]); its registration panicked or returned no backend
/// ([`RuntimeError::PluginInit`]).
pub fn load_plugin(path: &Path) -> Result<Vec<Arc<dyn Backend>>, RuntimeError> {
    let load_err = |message: String| RuntimeError::PluginLoad {
        path: path.to_path_buf(),
        message,
    };
    // SAFETY: loading a library runs its initializers. A Rust cdylib has none beyond the
    // standard library's; loading an arbitrary library is what the user asked for by naming it.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| load_err(e.to_string()))?;
    // SAFETY: `tessera_plugin_abi` is declared by `export_backend!` as
    // `extern "C" fn() -> *const c_char`; a C function of no arguments is safe to look up
    // under that type even in a library built by another compiler.
    let abi_fn =
        unsafe { lib.get::<unsafe extern "C" fn() -> *const c_char>(ABI_SYMBOL.as_bytes()) }
            .map_err(|e| {
                load_err(format!(
                    "not a Tessera backend plugin (no `{ABI_SYMBOL}`: {e}); export one with \
                 `tessera_runtime::export_backend!`"
                ))
            })?;
    // SAFETY: the function returns a pointer to a static NUL-terminated string (`ABI_TAG`).
    let tag = unsafe {
        let p = abi_fn();
        if p.is_null() {
            return Err(load_err(format!("`{ABI_SYMBOL}` returned no tag")));
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    check_abi_tag(path, tag)?;
    // SAFETY: the tags match, so the library was compiled from the same Tessera source by the
    // same rustc for the same target: its `tessera_plugin_backends` has type `BackendsFn`
    // with the same layout of every type involved.
    let backends_fn = unsafe { lib.get::<BackendsFn>(BACKENDS_SYMBOL.as_bytes()) }
        .map_err(|e| load_err(format!("no `{BACKENDS_SYMBOL}`: {e}")))?;
    let backends = backends_fn().map_err(|message| RuntimeError::PluginInit {
        path: path.to_path_buf(),
        message,
    })?;
    if backends.is_empty() {
        return Err(RuntimeError::PluginInit {
            path: path.to_path_buf(),
            message: "it returned an empty list".into(),
        });
    }
    // The backends' code and vtables live in the library: it must never be unloaded.
    std::mem::forget(lib);
    Ok(backends)
}

/// Refuses a plugin whose ABI tag is not this program's.
fn check_abi_tag(path: &Path, tag: String) -> Result<(), RuntimeError> {
    if tag == abi_tag() {
        return Ok(());
    }
    Err(RuntimeError::PluginAbi {
        path: path.to_path_buf(),
        plugin: tag,
        host: abi_tag().to_string(),
    })
}

/// The text of a caught panic.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `f`, catching a panic as its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()))
}

/// A backend whose every call catches panics on its own side of a plugin boundary (see the
/// module docs). [`export_backend!`](crate::export_backend) wraps each exported backend in it.
pub struct Guarded<B> {
    inner: B,
    name: String,
}

impl<B: Backend> Guarded<B> {
    /// Wraps `inner` (its name is read once, here).
    pub fn new(inner: B) -> Self {
        let name = inner.name().to_string();
        Guarded { inner, name }
    }

    fn panic(&self, call: &'static str, message: String) -> RuntimeError {
        RuntimeError::BackendPanic {
            backend: self.name.clone(),
            call,
            message,
        }
    }
}

impl<B: Backend> Backend for Guarded<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn availability(&self) -> Availability {
        guarded(|| self.inner.availability()).unwrap_or_else(|m| {
            Availability::Unavailable(format!("the backend panicked in `availability`: {m}"))
        })
    }

    fn op_support(&self, op: &Op, input_dtypes: &[DType]) -> OpSupport {
        guarded(|| self.inner.op_support(op, input_dtypes)).unwrap_or_else(|m| {
            OpSupport::Unsupported(format!("the backend panicked in `op_support`: {m}"))
        })
    }

    fn compile(&self, graph: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
        match guarded(|| self.inner.compile(graph)) {
            Ok(Ok(inner)) => Ok(Box::new(GuardedExecutable {
                inner,
                backend: self.name.clone(),
            })),
            Ok(Err(e)) => Err(e),
            Err(m) => Err(self.panic("compile", m)),
        }
    }

    /// The target and device, unguarded: a tool that drives them itself (`tessera diff`)
    /// calls the library's code without this wrapper.
    fn as_compiled(&self) -> Option<&crate::compiled::CompiledBackend> {
        self.inner.as_compiled()
    }

    fn is_software(&self) -> bool {
        guarded(|| self.inner.is_software()).unwrap_or(false)
    }
}

/// An executable of a [`Guarded`] backend: `run` catches panics too.
pub struct GuardedExecutable {
    inner: Box<dyn Executable>,
    backend: String,
}

impl Executable for GuardedExecutable {
    fn run(&self, inputs: &NamedTensors) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        guarded(|| self.inner.run(inputs)).unwrap_or_else(|message| {
            Err(RuntimeError::BackendPanic {
                backend: self.backend.clone(),
                call: "run",
                message,
            })
        })
    }

    fn placement(&self) -> Option<Placement> {
        guarded(|| self.inner.placement()).unwrap_or(None)
    }
}

/// Builds a plugin's backend list inside the library, with panics caught (for
/// [`export_backend!`](crate::export_backend)).
pub fn collect_backends(
    make: impl FnOnce() -> Vec<Arc<dyn Backend>>,
) -> Result<Vec<Arc<dyn Backend>>, String> {
    guarded(make)
}

/// Makes the crate a Tessera backend plugin: exports the ABI tag and a function returning the
/// given backends (expressions whose values implement [`Backend`]), each wrapped in
/// [`Guarded`]. Build the crate with `crate-type = ["cdylib", "rlib"]` and load the library with
/// `tessera --plugin PATH` (or `TESSERA_PLUGINS=PATH[:PATH..]`).
///
/// ```ignore
/// tessera_runtime::export_backend!(my_backend::backend());
/// ```
#[macro_export]
macro_rules! export_backend {
    ($($backend:expr),+ $(,)?) => {
        /// The Tessera plugin ABI tag of this library (`tessera_runtime::plugin::ABI_TAG`).
        #[unsafe(no_mangle)]
        pub extern "C" fn tessera_plugin_abi() -> *const ::std::ffi::c_char {
            $crate::plugin::ABI_TAG.as_ptr()
        }

        /// The backends this library registers (called only after the ABI tags match).
        #[unsafe(no_mangle)]
        pub fn tessera_plugin_backends() -> ::std::result::Result<
            ::std::vec::Vec<::std::sync::Arc<dyn $crate::Backend>>,
            ::std::string::String,
        > {
            $crate::plugin::collect_backends(|| {
                ::std::vec![$(
                    ::std::sync::Arc::new($crate::plugin::Guarded::new($backend))
                        as ::std::sync::Arc<dyn $crate::Backend>
                ),+]
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panicky;
    impl Backend for Panicky {
        fn name(&self) -> &str {
            "panicky"
        }
        fn availability(&self) -> Availability {
            panic!("no device today")
        }
        fn op_support(&self, _: &Op, _: &[DType]) -> OpSupport {
            OpSupport::Native
        }
        fn compile(&self, _: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
            panic!("compiler bug")
        }
    }

    #[test]
    fn guarded_backends_turn_panics_into_errors() {
        let g = Guarded::new(Panicky);
        assert_eq!(g.name(), "panicky");
        match g.availability() {
            Availability::Unavailable(m) => assert!(m.contains("no device today"), "{m}"),
            a => panic!("{a:?}"),
        }
        let err = g.compile(&Graph::new("g")).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("panicked in `compile`: compiler bug"), "{err}");
    }

    #[test]
    fn loading_a_non_plugin_is_a_typed_error() {
        let err = load_plugin(Path::new("/nonexistent/libnothing.so")).err();
        assert!(
            matches!(&err, Some(RuntimeError::PluginLoad { path, .. }) if path.ends_with("libnothing.so")),
            "{err:?}"
        );
    }

    #[test]
    fn a_plugin_of_another_build_is_refused() {
        let p = Path::new("libvendor.so");
        assert!(check_abi_tag(p, abi_tag().to_string()).is_ok());
        let other = abi_tag().replace("rustc ", "rustc 0.");
        let err = check_abi_tag(p, other.clone()).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("libvendor.so") && err.contains(&other) && err.contains("rebuild"),
            "{err}"
        );
    }

    #[test]
    fn the_abi_tag_names_tessera_rustc_and_target() {
        let tag = abi_tag();
        assert!(tag.starts_with("tessera-plugin/1 tessera "), "{tag}");
        assert!(tag.contains("rustc "), "{tag}");
        assert!(!tag.contains("rustc ?"), "{tag}");
    }
}
