//! An app whose route takes `Auth` but which never calls `App::auth()`: it must not start.
//! `AUTH=on` calls it (with `APP__AUTH__JWT__SECRET`), and the app serves.

use trestle::prelude::*;

/// The caller's subject.
#[get("/me")]
async fn me(auth: Auth) -> String {
    auth.sub.clone()
}

#[trestle::main]
async fn main() -> Result<(), StartupError> {
    let app = App::new();
    let app = if std::env::var("AUTH").as_deref() == Ok("on") { app.auth() } else { app };
    app.state(|ctx| ctx.clone()).routes(routes![me]).run().await
}
