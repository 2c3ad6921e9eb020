//! The error type of tessera-conformance: failures of a run as a whole (unreadable suite
//! folder, bad floor file, too few passing cases). Failures of single cases are results, not
//! errors (see [`crate::report::CaseStatus`]).

use std::path::PathBuf;

/// Errors of discovering, running or checking a suite.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// A file or folder could not be read.
    #[error("cannot read `{}`: {message}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// The floor file has a line that is not `<backend> <count>`.
    #[error("`{}` line {line}: {message}", .path.display())]
    FloorFile {
        /// The floor file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Fewer cases passed than the committed floor requires.
    #[error("backend `{backend}`: {passed} cases passed, below the floor of {floor}")]
    BelowFloor {
        /// The backend.
        backend: String,
        /// Cases that passed.
        passed: usize,
        /// The required minimum.
        floor: usize,
    },
}
