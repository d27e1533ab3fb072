use std::collections::HashMap;

use trestle::config::NoConfig;
use trestle::prelude::*;
use trestle::Context;

#[derive(Deserialize, JsonSchema)]
struct Ids {
    user: u32,
    post: u32,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Body {
    text: String,
}

/// Tuple path.
#[get("/users/{user}/posts/{post}")]
async fn tuple(Path((user, post)): Path<(u32, u32)>) -> String {
    format!("{user}/{post}")
}

/// Struct path.
#[get("/u/{user}/p/{post}")]
async fn by_struct(Path(ids): Path<Ids>) -> String {
    format!("{}/{}", ids.user, ids.post)
}

/// Map path with a wildcard.
#[get("/files/{*rest}")]
async fn wildcard(Path(params): Path<HashMap<String, String>>) -> String {
    params["rest"].clone()
}

/// No parameters, a body last.
#[post("/posts")]
async fn no_params(Json(body): Json<Body>) -> Json<Body> {
    Json(body)
}

/// Optional auth and state.
#[get("/feed")]
async fn optional_auth(_auth: Option<Auth>, State(_ctx): State<Context<NoConfig>>) -> &'static str {
    "feed"
}

/// Several methods.
#[route(method = ["GET", "HEAD"], path = "/status")]
async fn several() -> &'static str {
    "ok"
}

/// Scopes.
#[delete("/posts/{id}", scopes = ["admin", "posts:delete"])]
async fn scoped(Path(id): Path<u64>, auth: Auth) -> String {
    format!("{id} by {}", auth.sub)
}

pub mod nested {
    use trestle::prelude::*;

    /// A public handler in another module.
    #[get("/nested")]
    pub async fn public() -> &'static str {
        "nested"
    }
}

fn main() {
    let _app = App::new()
        .auth()
        .state(|ctx| ctx.clone())
        .routes(routes![tuple, by_struct, wildcard, no_params, optional_auth, several, scoped, nested::public]);
}
