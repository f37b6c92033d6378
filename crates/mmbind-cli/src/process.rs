//! What mmbind sets for the whole process, in one place: malloc's settings, the environment
//! variables that libraries read once (rayon's pool, ndarray's matrix-product pool, burn's
//! default device), and the one Ctrl-C handler.
//!
//! [`set_up`] runs first thing in `main`, right after the arguments are parsed, while the
//! process still has one thread: changing the environment is only sound then. The benchmarks
//! include this file too (`#[path]`), so they measure the set-up the binary runs with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// How the process is set up: what the global flags ask for.
pub struct Setup {
    /// `--threads`: the cap on rayon's pool and on each matrix product's threads.
    pub threads: Option<usize>,
    /// Training runs its own threads (`--jobs`), each doing its matrix products alone.
    pub training: bool,
}

/// Sets the process up. Call it once, before anything else starts a thread.
pub fn set_up(setup: &Setup) {
    keep_freed_memory();
    if setup.training {
        // Training's own threads each do their matrix products, whatever --threads says
        // (it still caps the threads of the tensor ops).
        limit_matmul_threads(1);
    }
    if let Some(n) = setup.threads {
        // SAFETY: `set_up` runs while the process has one thread.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
        limit_matmul_threads(n);
    }
    if std::env::var_os("BURN_DEVICE").is_none() {
        // burn loads a saved optimizer state onto its default device (it moves each tensor to
        // its parameter's device at the next step), and without this the default is wgpu,
        // which panics where wgpu has no adapter. Every other tensor is put on the device
        // `--backend` chose, so the CPU is a right default everywhere.
        // SAFETY: as above.
        unsafe { std::env::set_var("BURN_DEVICE", "ndarray") };
    }
    install_interrupt_handler();
}

/// Caps the threads that each of ndarray's matrix products may split over (matrixmultiply's
/// pool, read once per process from `MATMUL_NUM_THREADS`, which wins when already set).
///
/// Training runs `--jobs` threads of small products (tiny preset: a few thousand rows by 64),
/// and handing each product to the pool cost more than it saved: frozen phases two at a time
/// trained 1.31× faster with one thread per product (220 against 166 samples/s, same losses).
pub fn limit_matmul_threads(threads: usize) {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: called from `set_up` (or a benchmark's start), while there is one thread.
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", threads.max(1).to_string()) };
    }
}

/// Keeps freed memory in the process for the next allocation instead of handing it back to
/// the kernel (glibc's malloc; elsewhere nothing changes). Training and embedding allocate
/// and free the same multi-megabyte buffers every step; with glibc's defaults many of them
/// are fresh pages each time, paid for in page faults and zeroing:
/// - allocations up to 32 MiB come from the heap, not from a mapping of their own;
/// - free memory at the heap's top is returned only above 256 MiB;
/// - one arena for every thread: a thread's own arena is a set of 64 MiB heaps that glibc
///   unmaps whenever one falls empty (each training step, in a training lane), whatever the
///   thresholds say. Its lock is taken only by allocations too large for the per-thread cache.
///
/// Measured on the tiny preset (`cargo bench --bench train -- --quick --phases-only`, one
/// core): depth→vision 689 → 969 samples/s with the thresholds, and the arena made the run's
/// page faults 42.8 k in every run instead of 153–251 k (depth then fell to 648 in one run of
/// three).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes malloc's parameters; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// What the first Ctrl-C does: set by the one command that can stop cleanly.
struct Interrupt {
    stop: Arc<AtomicBool>,
    notice: Box<dyn Fn() + Send>,
}

static INTERRUPT: OnceLock<Mutex<Option<Interrupt>>> = OnceLock::new();

fn interrupt() -> &'static Mutex<Option<Interrupt>> {
    INTERRUPT.get_or_init(|| Mutex::new(None))
}

/// One handler for the process's life. Until a command asks for a clean stop
/// ([`stop_on_interrupt`]), Ctrl-C quits at once with 130, as with no handler; after, the
/// first press sets the command's flag and prints its notice, and the second quits.
fn install_interrupt_handler() {
    let installed = ctrlc::set_handler(|| {
        let guard = interrupt().lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(i) if !i.stop.swap(true, Ordering::Relaxed) => (i.notice)(),
            _ => std::process::exit(130),
        }
    });
    // Without a handler (the platform refused one) Ctrl-C keeps its default: the process ends.
    drop(installed);
}

/// Asks for a clean stop on the first Ctrl-C from now on: `stop` is set and `notice` runs (it
/// tells the user what is being saved); a second Ctrl-C quits at once with 130.
pub fn stop_on_interrupt(stop: &Arc<AtomicBool>, notice: impl Fn() + Send + 'static) {
    let mut guard = interrupt().lock().unwrap_or_else(|e| e.into_inner());
    *guard = Some(Interrupt {
        stop: stop.clone(),
        notice: Box::new(notice),
    });
}
