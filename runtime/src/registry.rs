//! The backend registry: every backend compiled in, looked up by name, with `auto` choosing the
//! first available one in order of preference (CUDA, Vulkan, CPU, then the reference).

use crate::backend::{Availability, Backend};
use crate::error::RuntimeError;
use crate::reference::ReferenceBackend;
use std::sync::Arc;

/// The order `auto` tries backends in.
pub const AUTO_PREFERENCE: [&str; 4] = ["cuda", "vulkan", "cpu", "reference"];

/// A set of backends by name.
#[derive(Clone, Default)]
pub struct Registry {
    backends: Vec<Arc<dyn Backend>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The backends built into this crate (the reference interpreter). The facade adds the
    /// compiled backends it links.
    pub fn with_reference() -> Self {
        let mut r = Registry::new();
        r.register(Arc::new(ReferenceBackend));
        r
    }

    /// The backends built into this crate: the reference interpreter and `kernel-interp` (the
    /// compile pipeline run on the kernel interpreter, to check lowering without a code
    /// generator). `auto` prefers the reference of the two.
    pub fn with_builtin() -> Self {
        let mut r = Registry::with_reference();
        r.register(Arc::new(crate::interp_device::kernel_interp_backend()));
        r
    }

    /// Adds a backend; one with the same name is replaced (vendors can override).
    pub fn register(&mut self, backend: Arc<dyn Backend>) {
        self.backends.retain(|b| b.name() != backend.name());
        self.backends.push(backend);
    }

    /// Every registered backend, available or not, in registration order.
    pub fn all(&self) -> Vec<Arc<dyn Backend>> {
        self.backends.clone()
    }

    /// Every backend with its availability, in registration order.
    pub fn list(&self) -> Vec<(String, Availability)> {
        self.backends
            .iter()
            .map(|b| (b.name().to_string(), b.availability()))
            .collect()
    }

    /// The backend called `name`, or for `auto` the first available in [`AUTO_PREFERENCE`]
    /// order (then any other available backend; software emulations of accelerators, such as
    /// Vulkan on lavapipe, come last). An unavailable backend is an error that says
    /// why.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Backend>, RuntimeError> {
        if name == "auto" {
            return self.auto();
        }
        let b = self
            .backends
            .iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| RuntimeError::UnknownBackend {
                name: name.to_string(),
                known: self.names().join(", "),
            })?;
        match b.availability() {
            Availability::Available(_) => Ok(b.clone()),
            Availability::Unavailable(reason) => Err(RuntimeError::Unavailable {
                name: name.to_string(),
                reason,
            }),
        }
    }

    fn names(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.name().to_string()).collect()
    }

    fn auto(&self) -> Result<Arc<dyn Backend>, RuntimeError> {
        let rank = |b: &Arc<dyn Backend>| {
            let pos = AUTO_PREFERENCE
                .iter()
                .position(|p| *p == b.name())
                .unwrap_or(AUTO_PREFERENCE.len());
            // Availability first, so `is_software` may look at the opened device.
            let software = b.availability().is_available() && b.is_software();
            (software, pos)
        };
        let mut order: Vec<&Arc<dyn Backend>> = self.backends.iter().collect();
        order.sort_by_key(|b| rank(b));
        let mut reasons = Vec::new();
        for b in order {
            match b.availability() {
                Availability::Available(_) => return Ok(b.clone()),
                Availability::Unavailable(r) => reasons.push(format!("{}: {r}", b.name())),
            }
        }
        Err(RuntimeError::NoBackend(if reasons.is_empty() {
            "no backends registered".into()
        } else {
            reasons.join("; ")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Executable;
    use tessera_ir::{Graph, TensorType};

    struct Missing;
    impl Backend for Missing {
        fn name(&self) -> &str {
            "cuda"
        }
        fn availability(&self) -> Availability {
            Availability::Unavailable("libcuda.so not found".into())
        }
        fn op_support(&self, _: &tessera_ir::Op, _: &[tessera_ir::DType]) -> crate::OpSupport {
            crate::OpSupport::Unsupported("no driver".into())
        }
        fn compile(&self, _: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
            Err(RuntimeError::Unavailable {
                name: "cuda".into(),
                reason: "no driver".into(),
            })
        }
    }

    #[test]
    fn auto_skips_unavailable_backends() {
        let mut r = Registry::with_reference();
        r.register(Arc::new(Missing));
        assert_eq!(r.get("auto").unwrap().name(), "reference");
        let err = r.get("cuda").err().unwrap().to_string();
        assert!(err.contains("libcuda.so not found"), "{err}");
        let err = r.get("tpu").err().unwrap().to_string();
        assert!(err.contains("reference") && err.contains("cuda"), "{err}");
        assert_eq!(r.list().len(), 2);
    }

    /// An available backend named `vulkan` whose device is software (like lavapipe).
    struct SoftwareGpu;
    impl Backend for SoftwareGpu {
        fn name(&self) -> &str {
            "vulkan"
        }
        fn availability(&self) -> Availability {
            Availability::Available("llvmpipe (Vulkan, Cpu)".into())
        }
        fn op_support(&self, _: &tessera_ir::Op, _: &[tessera_ir::DType]) -> crate::OpSupport {
            crate::OpSupport::Native
        }
        fn compile(&self, g: &Graph) -> Result<Box<dyn Executable>, RuntimeError> {
            ReferenceBackend.compile(g)
        }
        fn is_software(&self) -> bool {
            true
        }
    }

    #[test]
    fn auto_ranks_software_accelerators_last() {
        let mut r = Registry::with_reference();
        r.register(Arc::new(SoftwareGpu));
        assert_eq!(r.get("auto").unwrap().name(), "reference");
        assert_eq!(r.get("vulkan").unwrap().name(), "vulkan");
        let mut only = Registry::new();
        only.register(Arc::new(SoftwareGpu));
        assert_eq!(only.get("auto").unwrap().name(), "vulkan");
    }

    #[test]
    fn no_backend_at_all() {
        let mut r = Registry::new();
        r.register(Arc::new(Missing));
        assert!(matches!(r.get("auto"), Err(RuntimeError::NoBackend(m)) if m.contains("cuda")));
    }

    #[test]
    fn reference_rejects_bad_inputs() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::new(tessera_ir::DType::F32, &[2]));
        g.add_output(x);
        let exe = ReferenceBackend.compile(&g).unwrap();
        let err = exe.run(&Default::default()).err().unwrap().to_string();
        assert!(
            err.contains("missing input `x`") && err.contains("f32[2]"),
            "{err}"
        );
        let t = tessera_ir::Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap();
        let out = exe.run(&[("x".to_string(), t.clone())].into()).unwrap();
        assert_eq!(out, vec![("x".to_string(), t)]);
    }
}
