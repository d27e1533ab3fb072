// The documented form: `main` returns the app's startup error.
#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    let _router = trestle::App::new().into_router().await?;
    Ok(())
}
