//! `cargo run -p todos`: serves on 127.0.0.1:3001 with `todos.db` (SQLite) beside it.

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    todos::app().run().await
}
