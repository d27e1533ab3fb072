//! The smallest useful trestle app: typed config, typed state, two routes.
//!
//! `cargo run -p hello`, then:
//!
//! ```text
//! curl localhost:3000/hello/world          # {"message":"Hello, world!"}
//! curl localhost:3000/echo -H 'content-type: application/json' -d '{"message":"hi"}'
//! ```

use trestle::prelude::*;

/// The app's own config: top-level keys in `config/*.toml`, or `APP__GREETING=...`.
#[derive(Debug, Config, Deserialize)]
pub struct Settings {
    /// The word `/hello/{name}` greets with.
    #[config(default = "Hello", validate = not_blank)]
    pub greeting: String,
}

fn not_blank(s: &str) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        Err("must not be blank")
    } else {
        Ok(())
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    settings: Arc<Settings>,
}

/// Request and response body of both routes.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Message {
    /// The text.
    pub message: String,
}

/// Greets `name` with the configured greeting.
#[get("/hello/{name}")]
async fn hello(State(state): State<AppState>, Path(name): Path<String>) -> Json<Message> {
    Json(Message { message: format!("{}, {name}!", state.settings.greeting) })
}

/// Sends the message back.
#[post("/echo")]
async fn echo(Json(body): Json<Message>) -> Json<Message> {
    Json(body)
}

/// The app, ready to `.run()` (or to hand to `TestApp`).
pub fn app() -> App<Settings, AppState> {
    App::new()
        .config::<Settings>()
        .state(|ctx| AppState { settings: ctx.config().clone() })
        .routes(routes![hello, echo])
}
