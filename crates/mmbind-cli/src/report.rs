//! Per-input failures and progress on stderr, the same way in every command.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Counts and prints per-input failures: one line each, then a summary.
#[derive(Debug, Default)]
pub struct Reporter {
    pub failed: usize,
}

impl Reporter {
    /// `message` already names the input (`path: reason`).
    pub fn fail(&mut self, message: impl std::fmt::Display) {
        self.failed += 1;
        eprintln!("skipped {message}");
    }

    /// "embedded 10 of 12 inputs; 2 skipped" (nothing when all succeeded and `quiet`).
    pub fn summary(&self, verb: &str, total: usize, quiet: bool) {
        if self.failed > 0 {
            eprintln!(
                "{verb} {} of {total} inputs; {} skipped (see above)",
                total - self.failed,
                self.failed
            );
        } else if !quiet {
            eprintln!("{verb} {total} input{}", if total == 1 { "" } else { "s" });
        }
    }

    pub fn outcome(&self) -> crate::Outcome {
        if self.failed > 0 {
            crate::Outcome::Partial
        } else {
            crate::Outcome::Ok
        }
    }
}

/// A progress bar on stderr, only when stderr is a terminal, not `quiet`, and the work is
/// long enough to deserve one.
pub fn progress_bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet || len < 32 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
