//! The README's small app: typed config, a state split by `FromRef`, rows as structs, checked
//! input, a paged list. `cargo run -p hello`, then:
//!
//! ```text
//! curl localhost:3000/hello/world          # {"message":"Hello, world!"}
//! curl localhost:3000/notes -H 'content-type: application/json' -d '{"text":"hi"}'
//! curl 'localhost:3000/notes?limit=10'     # {"items":[…],"total":1,"limit":10,"offset":0}
//! ```

use trestle::db::Sqlite;
use trestle::prelude::*;

/// This app's pool: SQLite, whichever backends the workspace's features also turn on.
pub type Db = trestle::Db<Sqlite>;

/// The app's own config: top-level keys in `config/*.toml`, or `APP__GREETING=...`.
#[derive(Debug, Config, Deserialize)]
pub struct Settings {
    /// The word `/hello/{name}` greets with.
    #[config(default = "Hello", validate = not_blank)]
    pub greeting: String,
}

fn not_blank(s: &str) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        return Err("must not be blank");
    }
    Ok(())
}

/// Shared by every handler, a field at a time: `Db`, `State<Arc<Settings>>`.
#[derive(Clone, FromRef)]
pub struct AppState {
    db: Db,
    settings: Arc<Settings>,
}

/// Request and response body of `/hello` and `/echo`.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Message {
    /// The text.
    pub message: String,
}

/// A note as stored (`FromRow`) and as sent (`Serialize`).
#[derive(Debug, Deserialize, Serialize, FromRow, JsonSchema)]
pub struct Note {
    /// Its id.
    pub id: i64,
    /// What it says.
    pub text: String,
}

/// A new note; `Valid` checks the rules, one 422 naming every failing field.
#[derive(Deserialize, garde::Validate, JsonSchema)]
pub struct NewNote {
    #[garde(length(chars, min = 1, max = 500))]
    text: String,
}

/// Greets `name` with the configured greeting.
#[get("/hello/{name}")]
async fn hello(State(settings): State<Arc<Settings>>, Path(name): Path<String>) -> Json<Message> {
    Json(Message { message: format!("{}, {name}!", settings.greeting) })
}

/// Sends the message back.
#[post("/echo")]
async fn echo(Json(body): Json<Message>) -> Json<Message> {
    Json(body)
}

/// The notes, a page at a time: `?limit=20&offset=40`.
#[get("/notes")]
async fn list_notes(db: Db, page: Page) -> Result<Paginated<Note>> {
    let notes: Vec<Note> = trestle::sqlx::query_as("SELECT id, text FROM notes ORDER BY id LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&*db)
        .await?;
    let total: i64 = trestle::sqlx::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(&*db).await?;
    Ok(page.respond(notes, Some(total as u64)))
}

/// Writes a note down.
#[post("/notes")]
async fn add_note(db: Db, Valid(Json(new)): Valid<Json<NewNote>>) -> Result<Created<Json<Note>>> {
    let note: Note = trestle::sqlx::query_as("INSERT INTO notes (text) VALUES ($1) RETURNING id, text")
        .bind(&new.text)
        .fetch_one(&*db)
        .await?;
    trestle::tracing::info!(note.id = note.id, "note added");
    Ok(Created(Json(note)))
}

/// The app, ready to `.run()` (or to hand to `TestApp`).
pub fn app() -> App<Settings, AppState> {
    App::new()
        .config::<Settings>()
        .database_with::<Sqlite>()
        .migrations(trestle::migrate!())
        .state(|ctx| AppState { db: ctx.db_of::<Sqlite>(), settings: ctx.config().clone() })
        .routes(routes![hello, echo, list_notes, add_note])
}
