//! Code every Lyra service shares, so that each service crate holds only its own features.
//!
//! - [`config`]: typed settings from a file and `LYRA_…` variables, validated at start-up.
//! - [`telemetry`]: structured logs.
//! - [`db`]: the connection pool, the **only** way to open a transaction for an organisation
//!   ([`db::Db::begin_for_org`]), migrations and reference data.
//! - [`server`]: the common service shell — health, readiness, Prometheus metrics, request
//!   ids, panic catching, graceful shutdown — and [`server::Application`] to start a service.
//! - [`localpg`]: a private PostgreSQL cluster for development and tests.
//! - [`mcc`]: the merchant category catalogue.
//! - [`formats`]: the bank file formats that `lyra generate` writes and ingest reads.
//! - [`csv`]: CSV downloads from any rows, with formula injection neutralised.
//! - [`token`]: access-token claims and verification (gateway and every service).
//! - `testing` (feature `testing`): throwaway databases for integration tests.

/// Every Lyra binary allocates through mimalloc: requests build and parse many small JSON
/// values, and under the dashboard's load test glibc's allocator was a quarter of the
/// profile (README, Benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod calendar;
pub mod config;
pub mod csv;
pub mod db;
pub mod formats;
pub mod localpg;
pub mod mcc;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;

pub use config::Settings;
pub use server::{Application, Service};
