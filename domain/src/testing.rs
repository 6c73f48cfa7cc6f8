//! What the domain's tests share: driving the futures of repositories kept in memory.

/// The value of a future that never waits, as those of repositories kept in memory do not.
pub(crate) fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("an in-memory repository never waits"),
    }
}
