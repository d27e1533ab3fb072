//! `cargo run -p hello` serves on 127.0.0.1:3000 (`APP__SERVER__PORT` moves it).

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    hello::app().run().await
}
