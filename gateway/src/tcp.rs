//! Socket-level settings of accepted connections, so that no request waits on a TCP timer.
//!
//! Most clients send with Nagle's algorithm on (`ab`, Python `requests`, many HTTP stacks):
//! the last, partial segment of a body is held back until everything sent before it is
//! acknowledged. A receiver that delays its acknowledgements (Linux: up to 40 ms) then stalls
//! the request by that much, on about every other new connection. So the server:
//!
//! - acknowledges at once while it reads (`TCP_QUICKACK`; the kernel drops back to delayed
//!   acknowledgements by itself, so [`Connection`] re-arms it after every read that got data);
//! - sends without delay (`TCP_NODELAY`), so the last segment of its answer does not wait on
//!   the client's delayed acknowledgement either.
//!
//! Both are defaults, not options: they cost one system call per read and send nothing extra
//! that the client would not be sent anyway.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An accepted connection with the settings above applied.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    /// Whether re-arming `TCP_QUICKACK` works here (it is Linux-only; a failure turns it off).
    quickack: bool,
}

impl Connection {
    /// Tunes `stream`; a setting the platform refuses is skipped (it only costs latency).
    pub(crate) fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let mut conn = Self { stream, quickack: cfg!(any(target_os = "linux", target_os = "android")) };
        conn.rearm_quickack();
        conn
    }

    fn rearm_quickack(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.quickack && socket2::SockRef::from(&self.stream).set_tcp_quickack(true).is_err() {
            self.quickack = false;
        }
    }

    /// The socket, for inspection.
    #[cfg(test)]
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.rearm_quickack();
        }
        polled
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    /// Vectored, so that hyper sends the response head and the first body frame in one write.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    // Quick acknowledgements are tested by their effect, in `tests/transport.rs`: the kernel
    // reports the option as set whether or not the next acknowledgement will be quick.

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "the kernel's default is Nagle on");
        let mut conn = Connection::new(accepted);
        assert!(conn.stream().nodelay().unwrap());
        client.write_all(&[7u8; 100_000]).await.unwrap();
        let mut got = vec![0u8; 100_000];
        conn.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&b| b == 7));
        conn.write_all(b"answer").await.unwrap();
        let mut answer = [0u8; 6];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"answer");
    }
}
