//! The one client of line protocols (a request line, an answer line) the
//! project speaks to services with: the line probe, the chaos operations
//! that talk to a listener and the client workload all use [`Line`] (or
//! [`ask_once`] on a fresh connection).

pub use chaos_engine::deadline::within_io as within;
use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use smol::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Connect to `addr`, send `request`, read one answer line: all within `limit`.
pub async fn ask_once(addr: SocketAddr, request: &str, limit: Duration) -> io::Result<String> {
    within(limit, async {
        let mut line = Line::connect(addr, limit).await?;
        line.send(request.as_bytes()).await?;
        line.read().await
    })
    .await
}

/// One connection speaking a line protocol.
pub struct Line {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Line {
    /// Connect to `addr` (within `limit`).
    pub async fn connect(addr: SocketAddr, limit: Duration) -> io::Result<Line> {
        let s = within(limit, TcpStream::connect(addr)).await?;
        s.set_nodelay(true)?;
        Ok(Line {
            reader: BufReader::new(s.clone()),
            writer: s,
        })
    }

    /// Send `request` and a newline.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.writer.write_all(request).await?;
        self.writer.write_all(b"\n").await
    }

    /// The next line from the server, without its end; `UnexpectedEof` when it closed.
    pub async fn read(&mut self) -> io::Result<String> {
        read_line(&mut self.reader).await
    }

    /// Exactly `buf.len()` bytes from the server (after any lines read).
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        futures::io::AsyncReadExt::read_exact(&mut self.reader, buf).await
    }

    /// Send `request`, read one answer line, within `limit`.
    pub async fn ask(&mut self, request: &str, limit: Duration) -> io::Result<String> {
        within(limit, async {
            self.send(request.as_bytes()).await?;
            self.read().await
        })
        .await
    }

    /// Connect with a receive buffer of about `rcvbuf` bytes, so that a
    /// client that stops reading pushes back on the server quickly.
    pub async fn connect_small_window(
        addr: SocketAddr,
        rcvbuf: usize,
        limit: Duration,
    ) -> io::Result<Line> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        sock.set_recv_buffer_size(rcvbuf)?;
        sock.set_nonblocking(true)?;
        let s = within(limit, async {
            match sock.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => return Err(e),
            }
            let s = smol::Async::new(std::net::TcpStream::from(sock))?;
            s.writable().await?;
            if let Some(e) = s.get_ref().take_error()? {
                return Err(e);
            }
            Ok(TcpStream::from(s))
        })
        .await?;
        s.set_nodelay(true)?;
        Ok(Line {
            reader: BufReader::new(s.clone()),
            writer: s,
        })
    }

    /// The writing half (for clients that write without reading).
    pub fn writer(&mut self) -> &mut TcpStream {
        &mut self.writer
    }

    /// The two halves, for a reader and a writer that run apart.
    pub fn split(self) -> (BufReader<TcpStream>, TcpStream) {
        (self.reader, self.writer)
    }
}

/// The next line from `reader`, without its end; `UnexpectedEof` when it closed.
pub async fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed by the server",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// A short name for an I/O failure, as a client saw it.
pub fn error_kind(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut => "timeout".into(),
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::ConnectionReset => "reset".into(),
        io::ErrorKind::UnexpectedEof => "closed".into(),
        io::ErrorKind::BrokenPipe => "broken pipe".into(),
        io::ErrorKind::Other => e.to_string().chars().take(160).collect(),
        other => format!("{other:?}"),
    }
}
