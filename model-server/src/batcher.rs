//! Dynamic batching (`dynamic_batching: {max_batch, max_delay_ms}`), as Triton's dynamic
//! batcher does: runs of concurrent requests wait up to `max_delay_ms` for each other and go to
//! the engine as one run of at most `max_batch` images; each request gets back the rows of the
//! outputs that are its own images, in its order, nothing of another's.
//!
//! One thread per model gathers and runs; requests hand it their tensor and wait for their
//! rows. A request's run larger than `max_batch` runs alone.

use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::engine::{Engine, OutputTensor, RunError};

/// One request's run waiting to be batched.
struct Job {
    input: Vec<f32>,
    images: usize,
    reply: SyncSender<Result<Vec<OutputTensor>, RunError>>,
}

/// The gathering side of one model.
pub(crate) struct Batcher {
    jobs: Mutex<Sender<Job>>,
}

impl Batcher {
    /// Starts the gathering thread for `engine` (whose batch must be free).
    pub fn start(engine: Arc<dyn Engine>, max_batch: usize, max_delay: Duration) -> Self {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("dynamic-batching".into())
            .spawn(move || gather(&*engine, &rx, max_batch.max(1), max_delay))
            .map_or_else(|e| tracing::error!("cannot start dynamic batching: {e}"), drop);
        Self { jobs: Mutex::new(tx) }
    }

    /// Runs `images` images (`input`, C order) with whatever other requests send meanwhile;
    /// their outputs.
    pub fn run(&self, input: Vec<f32>, images: usize) -> Result<Vec<OutputTensor>, RunError> {
        let (reply, answer) = sync_channel(1);
        let sent = self.jobs.lock().map_err(|_| RunError::failed("dynamic batching stopped"))?.send(Job {
            input,
            images,
            reply,
        });
        sent.map_err(|_| RunError::failed("dynamic batching stopped"))?;
        answer.recv().map_err(|_| RunError::failed("dynamic batching stopped"))?
    }
}

/// Gathers jobs until `max_batch` images or `max_delay` after the first, runs them, and
/// answers each; until every sender is gone.
fn gather(engine: &dyn Engine, rx: &Receiver<Job>, max_batch: usize, max_delay: Duration) {
    let mut carried: Option<Job> = None;
    loop {
        let Some(first) = carried.take().or_else(|| rx.recv().ok()) else { return };
        let deadline = Instant::now() + max_delay;
        let mut total = first.images;
        let mut jobs = vec![first];
        while total < max_batch {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) if total + job.images > max_batch => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => {
                    total += job.images;
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        debug!("dynamic batch: {total} images from {} requests", jobs.len());
        run(engine, jobs, total);
    }
}

/// Runs the jobs as one batch and sends each its rows.
fn run(engine: &dyn Engine, jobs: Vec<Job>, total: usize) {
    let input: Vec<f32> = if jobs.len() == 1 {
        Vec::new()
    } else {
        let mut all = Vec::with_capacity(jobs.iter().map(|j| j.input.len()).sum());
        jobs.iter().for_each(|j| all.extend_from_slice(&j.input));
        all
    };
    let input = if jobs.len() == 1 { &jobs[0].input } else { &input };
    match engine.run_images(input, total) {
        Ok(outputs) => {
            let mut first = 0;
            for job in jobs {
                let rows = outputs.iter().map(|o| rows(o, total, first, job.images)).collect();
                first += job.images;
                let _ = job.reply.send(Ok(rows));
            }
        }
        Err(e) => jobs.into_iter().for_each(|job| {
            let _ = job.reply.send(Err(e.clone()));
        }),
    }
}

/// Rows `first..first + n` of an output of `total` rows.
fn rows((shape, values): &OutputTensor, total: usize, first: usize, n: usize) -> OutputTensor {
    let per = values.len() / total.max(1);
    let mut shape = shape.clone();
    if let Some(rows) = shape.first_mut() {
        *rows = n;
    }
    (shape, values.get(first * per..(first + n) * per).map(<[f32]>::to_vec).unwrap_or_default())
}
