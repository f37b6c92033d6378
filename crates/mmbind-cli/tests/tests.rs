//! One integration crate (one link step) for every end-to-end test.

mod browser;
mod cli;
mod hostile;
mod http_client;
mod import;
mod inputs;
// SIGINT through libc, which the crate links on glibc Linux only.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod interrupt;
mod parity;
mod scale;
mod search;
mod serve;
mod train;
mod util;
