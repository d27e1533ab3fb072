//! The raw axum side of `benches/load.sh`: the hand-assembled tower-http stack, logging at INFO
//! like a production service, served with `axum::serve`.

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("info").json().init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3201".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("bind");
    axum::serve(listener, trestle_benches::raw_stack()).await.expect("serve");
}
