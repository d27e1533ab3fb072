//! `cargo run -p conduit`: the RealWorld API on http://127.0.0.1:3000.

#[trestle::main]
async fn main() -> trestle::Result<()> {
    conduit::app().run().await
}
