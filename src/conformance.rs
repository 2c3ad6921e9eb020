//! `tessera conformance`: runs the conformance suites (see `tessera_conformance::cli`) against
//! the backends of this build.

use tessera::Error;
use tessera::conformance::cli::{CliError, ConformanceArgs};

/// The command's arguments: the suite's own, plus the `cpu` backend's code generator.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The suite's arguments.
    #[command(flatten)]
    pub suite: ConformanceArgs,
    /// Code generator of the `cpu` backend: `cranelift` (default) or `llvm`.
    #[arg(long, default_value = "cranelift")]
    pub cpu_codegen: String,
}

/// Runs the command on [`tessera::registry_with_cpu`].
pub fn run(args: Args) -> Result<(), Error> {
    let registry = tessera::registry_with_cpu(args.cpu_codegen.parse()?)?;
    tessera::conformance::cli::run(args.suite, &registry).map_err(|e| match e {
        CliError::Conformance(e) => Error::Conformance(e),
        CliError::Runtime(e) => Error::Runtime(e),
        CliError::Gate(m) => Error::Usage(m),
    })
}
