//! The ledger on a thread of its own. The ledger's operations (one connection, write
//! transactions that serialise every writer) are futures the compiler cannot prove `Send` —
//! their write transactions take async closures over `&mut Db` — so they cannot run on the
//! server's work-stealing runtime. One thread owns the connection and runs the jobs handlers
//! send it, in order, on a single-threaded runtime; a handler awaits its answer. The firm check
//! never comes here.

use std::future::Future;
use std::pin::Pin;

use huiqi_ledger::Ledger;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// A future that stays on the ledger's thread.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

type Job = Box<dyn for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, ()> + Send>;

pub struct LedgerHandle {
    tx: mpsc::UnboundedSender<Job>,
}

fn stopped() -> ApiError {
    ApiError::internal("the ledger thread has stopped")
}

impl LedgerHandle {
    /// Opens (or creates) the ledger at `target` on a new thread.
    pub async fn open(target: String) -> huiqi::Result<LedgerHandle> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel::<huiqi::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("huiqi-ledger".into())
            .spawn(move || {
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
                    let mut l = match huiqi::ledger::open_or_create(&target).await {
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
        Ok(LedgerHandle { tx })
    }

    /// Runs `f` on the ledger's thread and returns what it returns.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Ledger) -> LocalFuture<'a, T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |l| {
            Box::pin(async move {
                let r = f(l).await;
                let _ = tx.send(r);
            })
        });
        self.tx.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
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
