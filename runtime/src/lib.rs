//! tessera-runtime: backends, devices and executables.
