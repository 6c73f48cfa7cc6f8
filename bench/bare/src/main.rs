//! A bare poem server answering `GET /users/{id}` with a user's JSON built from memory: no
//! database, no authentication, no middleware. The benchmark compares `get_user` against it to
//! see what the service's own work costs on top of HTTP and JSON.
//!
//! Usage: `bare 127.0.0.1:PORT`

use poem::{EndpointExt, Route, Server, get, handler, listener::TcpListener, web::Json, web::Path};
use serde_json::{Value, json};

#[handler]
fn user(Path(id): Path<i64>) -> Json<Value> {
    Json(json!({
        "id": id,
        "name": "Bench User",
        "email": format!("u{id}@example.com"),
        "bio": null,
        "created_at": "2026-11-25T00:00:00.000000Z",
        "updated_at": "2026-11-25T00:00:00.000000Z",
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    let app = Route::new().at("/users/:id", get(user)).map_to_response();
    Server::new(TcpListener::bind(bind)).run(app).await
}
