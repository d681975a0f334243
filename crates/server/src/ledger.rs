//! The ledger on threads of its own. The ledger's operations are futures the compiler cannot
//! prove `Send` — their write transactions take async closures over `&mut Db` — so they cannot
//! run on the server's work-stealing runtime. Each connection lives on a thread of its own that
//! runs the jobs handlers send it, in order, on a single-threaded runtime; a handler awaits its
//! answer. One thread holds the only writing connection (writes serialise there anyway);
//! `readers` more hold read-only connections, so pages and queues do not wait behind each other
//! or behind a write (SQLite in WAL mode and PostgreSQL both read beside a writer). A firm's
//! check comes here only for a firm's award history, and not at all while the audit head it was
//! answered at has not moved.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use huiqi_ledger::Ledger;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// A future that stays on the ledger's thread.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

type Job = Box<dyn for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, ()> + Send>;

/// One connection's thread: where to send it jobs, and how many it has not finished.
struct Worker {
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<AtomicUsize>,
}

pub struct LedgerHandle {
    writer: Worker,
    readers: Vec<Worker>,
    /// The audit chain's head as last seen: read after every write of this process and every
    /// second by `crate::watch_ledger` (another process may write the same database). What a
    /// firm's check read from the ledger is cached under it.
    head: Arc<AtomicI64>,
}

/// The audit chain's head, or None when it cannot be read now.
fn head_seq(l: &mut Ledger) -> LocalFuture<'_, Option<i64>> {
    Box::pin(async move { l.head_seq().await.ok() })
}

fn stopped() -> ApiError {
    ApiError::internal("the ledger thread has stopped")
}

impl Worker {
    /// Starts a thread whose connection `open` makes; returns once it is open.
    async fn spawn<O>(name: String, target: String, open: O) -> huiqi::Result<Worker>
    where
        O: for<'a> FnOnce(&'a str) -> LocalFuture<'a, huiqi::Result<Ledger>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel::<huiqi::Result<()>>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(huiqi::Error::plain(format!("tokio: {e}"))));
                    return;
                }
            };
            rt.block_on(async move {
                let mut l = match open(&target).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while let Some(job) = rx.recv().await {
                    job(&mut l).await;
                }
                l.close().await;
            });
        });
        thread.map_err(|e| huiqi::Error::plain(format!("ledger thread: {e}")))?;
        ready_rx
            .await
            .map_err(|_| huiqi::Error::plain("the ledger thread ended"))??;
        Ok(Worker {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let pending = self.pending.clone();
        pending.fetch_add(1, Ordering::Relaxed);
        let job: Job = Box::new(move |l| {
            Box::pin(async move {
                let r = f(l).await;
                pending.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(r);
            })
        });
        if self.tx.send(job).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(stopped());
        }
        rx.await.map_err(|_| stopped())
    }
}

impl LedgerHandle {
    /// Opens (or creates, and migrates) the ledger at `target` on a writer thread, then
    /// `readers` read-only connections on threads of their own.
    pub async fn open(target: String, readers: usize) -> huiqi::Result<LedgerHandle> {
        let writer = Worker::spawn("huiqi-ledger".into(), target.clone(), |t| {
            Box::pin(huiqi::ledger::open_or_create(t))
        })
        .await?;
        let mut rs = Vec::with_capacity(readers);
        for k in 0..readers {
            rs.push(
                Worker::spawn(format!("huiqi-ledger-r{k}"), target.clone(), |t| {
                    Box::pin(huiqi::ledger::open_reader(t))
                })
                .await?,
            );
        }
        let h = LedgerHandle {
            writer,
            readers: rs,
            head: Arc::new(AtomicI64::new(-1)),
        };
        h.refresh_head(false).await;
        Ok(h)
    }

    /// Runs `f` on the writer's thread and returns what it returns.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, T> + Send + 'static,
    {
        let r = self.writer.run(f).await;
        self.refresh_head(true).await;
        r
    }

    /// The audit chain's head as last seen (-1 before the first read).
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    /// Reads the audit chain's head again (on the writer's connection when `writer`: after its
    /// own write, which a reader in WAL mode sees as well, but the writer at once).
    pub(crate) async fn refresh_head(&self, writer: bool) {
        let seq = if writer {
            self.writer.run(head_seq).await
        } else {
            self.read(head_seq).await
        };
        if let Ok(Some(seq)) = seq {
            self.head.fetch_max(seq, Ordering::AcqRel);
        }
    }

    /// Runs `f`, which only reads, on the reader with the fewest jobs waiting (the writer when
    /// there are no readers). A write there fails: the connection is read-only.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, T> + Send + 'static,
    {
        match self
            .readers
            .iter()
            .min_by_key(|w| w.pending.load(Ordering::Relaxed))
        {
            Some(w) => w.run(f).await,
            None => self.writer.run(f).await,
        }
    }
}

/// `ledger!(state, |l| body)`: runs `body` (an expression that may `.await`, with `l: &mut
/// Ledger`) on the ledger's thread; the variables it uses are moved there. Evaluates to a
/// future of `Result<body's value, ApiError>`.
#[macro_export]
macro_rules! ledger {
    ($s:expr, |$l:ident| $body:expr) => {
        $s.ledger.run(
            move |$l: &mut ::huiqi_ledger::Ledger| -> $crate::ledger::LocalFuture<'_, _> {
                ::std::boxed::Box::pin(async move { $body })
            },
        )
    };
}

/// `ledger_read!(state, |l| body)`: like [`ledger!`], on a read-only connection.
#[macro_export]
macro_rules! ledger_read {
    ($s:expr, |$l:ident| $body:expr) => {
        $s.ledger.read(
            move |$l: &mut ::huiqi_ledger::Ledger| -> $crate::ledger::LocalFuture<'_, _> {
                ::std::boxed::Box::pin(async move { $body })
            },
        )
    };
}
