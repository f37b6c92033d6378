//! The model's thread. Every request that embeds runs here, one at a time, on the model and
//! index loaded once (the encoders use the cores themselves); the HTTP side awaits the answer
//! without holding a thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;

use mmbind::backend::Compute;
use mmbind::model::Model;
use mmbind::search::Index;

use crate::answer::Answerer;

type Job = Box<dyn for<'a> FnOnce(&mut Answerer<'a>) + Send>;

/// A handle on the model's thread.
#[derive(Clone)]
pub struct Engine {
    jobs: mpsc::Sender<Job>,
}

impl Engine {
    /// Starts the thread that owns `model` and answers with it (and `index` for searches).
    pub fn start(model: Model, compute: Compute, index: Arc<Index>) -> std::io::Result<Engine> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("mmbind-model".into())
            .spawn(move || {
                let mut answerer = Answerer::new(&model, &compute.device, Some(&index));
                for job in queue {
                    // A request that panics fails alone (its caller sees the answer dropped);
                    // the model is only read, so the next request finds it as it was.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut answerer)));
                }
            })?;
        Ok(Engine { jobs })
    }

    /// Runs `f` on the model's thread and waits for its result.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(&mut Answerer<'a>) -> R + Send + 'static,
    ) -> Result<R, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |a| {
                let _ = tx.send(f(a));
            }))
            .map_err(|_| "the model's thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the request failed inside the model's thread".to_string())
    }
}
