//! Shared helpers of the end-to-end tests: broker harnesses, the Python peer's venv, free ports.

pub mod brokers;
pub mod python;
