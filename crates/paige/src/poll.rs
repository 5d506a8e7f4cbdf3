//! Polling a future once, to get its first step under way (a request to
//! the database, say) while the caller does other work, then awaiting
//! the rest.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Polls `future` once: its output if it is done already.
pub(crate) async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}
