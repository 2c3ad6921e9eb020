//! `tessera conformance`: runs the conformance suites (see `tessera_conformance::cli`) against
//! the backends of this build.

use tessera::Error;
use tessera::conformance::cli::{CliError, ConformanceArgs};

/// Runs the command on [`tessera::registry`].
pub fn run(args: ConformanceArgs) -> Result<(), Error> {
    tessera::conformance::cli::run(args, &tessera::registry()).map_err(|e| match e {
        CliError::Conformance(e) => Error::Conformance(e),
        CliError::Runtime(e) => Error::Runtime(e),
        CliError::Gate(m) => Error::Usage(m),
    })
}
