use trestle::prelude::*;

struct Settings {
    verbose: bool,
}

/// Takes an argument that is not an extractor.
#[get("/settings")]
async fn settings(settings: Settings, db: Db) -> String {
    let _ = db;
    settings.verbose.to_string()
}

/// Its last argument cannot read the request either.
#[post("/echo")]
async fn echo(body: Settings) -> String {
    body.verbose.to_string()
}

fn main() {
    let _ = routes![settings, echo];
}
