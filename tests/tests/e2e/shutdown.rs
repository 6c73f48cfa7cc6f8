//! Graceful shutdown: requests already accepted finish; then the service stops cleanly.

use e2e::{Service, user_in};

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    // One hash at a time: the creates queue behind each other, so most are still in flight
    // when the first answer arrives and shutdown begins.
    let mut service = Service::start_with(|s| s.hash_concurrency = Some(1)).await;
    let mut requests = Vec::new();
    for n in 0..6 {
        let request = service
            .client
            .post(service.url("/users"))
            .json(&user_in("U", &format!("drain{n}@example.com")))
            .send();
        requests.push(tokio::spawn(request));
    }
    let mut answers = Vec::new();
    let first = requests.remove(0).await.unwrap().unwrap();
    answers.push(first.status().as_u16());
    service.stop().await.expect("stops cleanly");
    for request in requests {
        answers.push(request.await.unwrap().unwrap().status().as_u16());
    }
    assert_eq!(answers, [201; 6]);
    assert!(
        service
            .client
            .get(service.url("/livez"))
            .send()
            .await
            .is_err()
    );
}
