//! The one way the project puts a time limit on a future: [`within`] (and
//! [`within_io`] for I/O, where running out of time is `TimedOut`).

use std::future::Future;
use std::io;
use std::time::Duration;

/// The limit passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut(pub Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no answer within {} ms", self.0.as_millis())
    }
}

impl std::error::Error for TimedOut {}

impl From<TimedOut> for io::Error {
    fn from(t: TimedOut) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, t.to_string())
    }
}

/// `fut`'s output, or [`TimedOut`] when `limit` passes first (the future is dropped).
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Result<T, TimedOut> {
    let timer = async {
        smol::Timer::after(limit).await;
        None::<T>
    };
    let work = async { Some(fut.await) };
    futures::pin_mut!(work, timer);
    match futures::future::select(work, timer).await {
        futures::future::Either::Left((Some(v), _)) => Ok(v),
        _ => Err(TimedOut(limit)),
    }
}

/// An I/O future within `limit`; running out of time is an `io::ErrorKind::TimedOut` error.
pub async fn within_io<T>(
    limit: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    within(limit, fut).await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn finishes_or_times_out() {
        smol::block_on(async {
            assert_eq!(within(Duration::from_secs(5), async { 7 }).await, Ok(7));
            let t0 = Instant::now();
            let slow = smol::Timer::after(Duration::from_secs(30));
            let r = within(Duration::from_millis(50), slow).await;
            assert_eq!(r.unwrap_err(), TimedOut(Duration::from_millis(50)));
            assert!(t0.elapsed() < Duration::from_secs(5));
            let e = within_io(
                Duration::from_millis(10),
                futures::future::pending::<io::Result<()>>(),
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert_eq!(e.to_string(), "no answer within 10 ms");
        });
    }
}
