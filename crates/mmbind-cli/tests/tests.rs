//! One integration crate (one link step) for every end-to-end test.

mod cli;
mod hostile;
mod import;
mod inputs;
mod interrupt;
mod parity;
mod search;
mod train;
mod util;
