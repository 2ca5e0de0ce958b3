//! The cap on connections served at once.
//!
//! Every connection costs a file descriptor, and so do the store's own files:
//! sled's data files and the blob files it opens to sync them, case files
//! being uploaded or downloaded. Idle or half-open connections must not use
//! the descriptors up until the store cannot sync, so the listener takes a
//! new connection only while fewer than the cap are open; further clients
//! wait in the kernel's listen backlog. The cap is the configured
//! `limits.max_connections`, lowered if need be to leave
//! [`RESERVED_DESCRIPTORS`] below the process's open-file limit.
//!
//! Should descriptors run out all the same (the limit lowered while the
//! gateway runs, or taken by other work), a failed accept pauses the
//! listener rather than being retried at once, and clients are refused until
//! there is room again ([`mediation_api::accept`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mediation_api::accept::Accepting;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// Descriptors kept for the store, case files, logs and outgoing connections.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The soft limit on open files, from `/proc/self/limits`.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The cap to apply: `configured`, or less when the open-file limit leaves
/// too little room beside the reserved descriptors.
pub fn effective_cap(configured: u32) -> usize {
    let configured = u64::from(configured.max(1));
    let cap = match open_file_limit() {
        Some(limit) => configured.min(limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)),
        None => configured,
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// A served connection, holding its place under the cap until it closes.
#[derive(Debug)]
pub struct Capped {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
}

impl Connected for Capped {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

type Waiting = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

/// Accepted connections, at most `cap` open at once: the next is accepted
/// only once a place is free.
pub struct CappedIncoming {
    incoming: TcpIncoming,
    /// Pauses after a failed accept, and refuses clients while out of
    /// descriptors.
    accepting: Accepting,
    places: Arc<Semaphore>,
    place: Option<OwnedSemaphorePermit>,
    waiting: Option<Waiting>,
}

impl std::fmt::Debug for CappedIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedIncoming")
            .field("free", &self.places.available_permits())
            .field("accepting", &self.accepting)
            .finish_non_exhaustive()
    }
}

impl CappedIncoming {
    pub fn new(incoming: TcpIncoming, cap: usize) -> Self {
        Self {
            incoming,
            accepting: Accepting::new("grpc"),
            places: Arc::new(Semaphore::new(cap.max(1))),
            place: None,
            waiting: None,
        }
    }
}

impl Stream for CappedIncoming {
    type Item = std::io::Result<Capped>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // First a place, then a connection to put in it: at the cap, nothing
        // more is accepted.
        if this.place.is_none() {
            let places = Arc::clone(&this.places);
            let waiting = this
                .waiting
                .get_or_insert_with(|| Box::pin(async move { places.acquire_owned().await.ok() }));
            match waiting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(place) => {
                    this.waiting = None;
                    match place {
                        Some(place) => this.place = Some(place),
                        None => return Poll::Ready(None),
                    }
                }
            }
        }
        // A failed accept is not passed on: the server would only try again
        // at once, spinning while descriptors are out.
        let incoming = &mut this.incoming;
        match this
            .accepting
            .poll_accept(cx, |cx| Pin::new(&mut *incoming).poll_next(cx))
        {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(stream)) => match this.place.take() {
                Some(place) => Poll::Ready(Some(Ok(Capped {
                    stream,
                    _place: place,
                }))),
                None => Poll::Ready(Some(Err(std::io::Error::other(
                    "a connection was accepted without a place",
                )))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt as _;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        let limit = open_file_limit().expect("Linux reports the open-file limit");
        assert!(
            effective_cap(u32::MAX) as u64 <= limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)
        );
        assert_eq!(effective_cap(3), 3.min(effective_cap(u32::MAX)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_connection_is_accepted_beyond_the_cap_until_one_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = CappedIncoming::new(TcpIncoming::from(listener), 2);
        let _clients: Vec<_> = futures_connect(addr, 3).await;
        let first = incoming.next().await.unwrap().unwrap();
        let _second = incoming.next().await.unwrap().unwrap();
        let third =
            tokio::time::timeout(std::time::Duration::from_millis(200), incoming.next()).await;
        assert!(
            third.is_err(),
            "a third connection was accepted past the cap"
        );
        drop(first);
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), incoming.next())
            .await
            .expect("a place came free");
        assert!(third.unwrap().is_ok());
    }

    async fn futures_connect(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut clients = Vec::new();
        for _ in 0..n {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        clients
    }
}
