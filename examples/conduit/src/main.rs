//! `cargo run -p conduit`: the RealWorld API on http://127.0.0.1:3000.

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    conduit::app().run().await
}
