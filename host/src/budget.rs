//! What a door's calls may hold while their bodies arrive: a budget of bytes shared by the
//! whole door, taken as each frame arrives and given back when the body is dropped (once
//! tonic has decoded a unary call's message). A frame beyond it refuses the call at once
//! (RESOURCE_EXHAUSTED): many large messages received at once cannot exhaust the memory.
//! A stream's body must not be held (it would hold its bytes for as long as it is open).

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;

/// A door's budget of bytes being received.
#[derive(Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        assert!(bytes <= u32::MAX as usize, "semaphore permits are u32");
        Budget(Arc::new(Semaphore::new(bytes)))
    }

    /// `body`, its bytes held against this budget as they arrive.
    pub fn hold(&self, body: Body) -> Body {
        Body::new(Budgeted { inner: body, budget: self.clone(), held: Held::default() })
    }
}

/// Bytes held against a budget, given back when dropped.
#[derive(Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    /// Holds `bytes` more of `budget`; false, holding nothing more, if it has not that many.
    pub fn more(&mut self, budget: &Budget, bytes: usize) -> bool {
        let Some(permit) = u32::try_from(bytes).ok().and_then(|n| budget.0.clone().try_acquire_many_owned(n).ok())
        else {
            return false;
        };
        match &mut self.0 {
            Some(held) => held.merge(permit),
            none => *none = Some(permit),
        }
        true
    }
}

/// A request body whose bytes are counted against the door's budget as they arrive, and
/// given back when the body is dropped.
struct Budgeted {
    inner: Body,
    budget: Budget,
    held: Held,
}

impl HttpBody for Budgeted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let len = frame.data_ref().map_or(0, Bytes::len);
        let Budgeted { budget, held, .. } = &mut *self;
        if !held.more(budget, len) {
            return Poll::Ready(Some(Err(Status::resource_exhausted(
                "this node is receiving as many bytes as this door takes; retry shortly",
            ))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn body_of(chunks: &[usize]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, Status>> =
            chunks.iter().map(|&n| Ok(Frame::data(Bytes::from(vec![0u8; n])))).collect();
        Body::new(StreamBody::new(tokio_stream::iter(frames)))
    }

    #[tokio::test]
    async fn bodies_are_received_within_the_budget_and_give_it_back_when_dropped() {
        let budget = Budget::new(100);
        let budgeted =
            |chunks: &[usize]| Budgeted { inner: body_of(chunks), budget: budget.clone(), held: Held::default() };
        let mut first = budgeted(&[30, 30]);
        assert_eq!(first.frame().await.unwrap().unwrap().data_ref().unwrap().len(), 30);
        assert_eq!(first.frame().await.unwrap().unwrap().data_ref().unwrap().len(), 30);
        assert_eq!(budget.0.available_permits(), 40, "held while the first body lives");
        let mut second = budgeted(&[30, 30]);
        assert!(second.frame().await.unwrap().is_ok());
        let refused = second.frame().await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop((first, second));
        assert_eq!(budget.0.available_permits(), 100, "all given back");
        let mut whole = budgeted(&[100]);
        assert!(whole.frame().await.unwrap().is_ok());
        assert!(whole.frame().await.is_none());
    }
}
