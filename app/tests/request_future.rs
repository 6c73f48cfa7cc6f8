//! The size of the future that serves one request, pinned: the server moves it to the heap for
//! every request (so that an idle connection, a followed stream's or a keep-alive one, holds no
//! slot its size), and a layer that copies the request into its own state, or an `async fn`
//! that holds its argument twice, makes every request pay for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poem::Endpoint;

#[tokio::test]
async fn the_future_of_one_request_stays_within_16_kib() {
    let dir = tempfile::tempdir().unwrap();
    let settings = app::Settings {
        data_dir: dir.path().to_path_buf(),
        ..app::Settings::defaults()
    };
    let wired = app::wire(&settings, app::Overrides::default())
        .await
        .unwrap();
    let endpoint = wired.endpoint();
    let request = poem::Request::builder().uri_str("/healthz").finish();
    let size = std::mem::size_of_val(&endpoint.get_response(request));
    assert!(size <= 16 * 1024, "a request's future takes {size} bytes");
}
