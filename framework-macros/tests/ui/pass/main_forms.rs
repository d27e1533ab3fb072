#[trestle::main]
async fn main() -> trestle::Result<()> {
    let _router = trestle::App::new().into_router().await?;
    Ok(())
}
