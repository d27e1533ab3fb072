//! A to-do list per user: the daily loop of a trestle app in one file.
//!
//! - rows are structs: `#[derive(FromRow)]`, and `sqlx::query_as!` checked against the schema
//!   at compile time (offline, from `.sqlx/`: `cargo sqlx prepare` refreshes it);
//! - request bodies, query strings and paths are checked by their types' `garde` rules
//!   (`Valid<…>`): one 422 naming every failing field by its JSON pointer;
//! - lists are pages (`Page`, `Paginated`: limit/offset or a cursor, bounds from
//!   `[pagination]`);
//! - one error enum (`#[derive(ApiError)]`), one state struct split by `#[derive(FromRef)]`
//!   and built asynchronously;
//! - races (two sign-ups with one email) are decided by the database's constraints;
//! - the OpenAPI document (`/openapi.json`, `/docs`) comes from the handlers: bodies derive
//!   `JsonSchema` (garde's rules included), `Created` and `NoContent` give 201 and 204, and
//!   `errors = [TodoError::NotFound, …]` names the errors each route can give.
//!
//! `cargo run -p todos`, then:
//!
//! ```text
//! curl -s localhost:3001/api/users -H 'content-type: application/json' \
//!   -d '{"email":"ada@example.com","password":"correct horse"}'      # {"token": "…"}
//! curl -s localhost:3001/api/todos -H "authorization: Bearer $TOKEN" \
//!   -H 'content-type: application/json' -d '{"title":"write the docs"}'
//! curl -s "localhost:3001/api/todos?limit=10" -H "authorization: Bearer $TOKEN"
//! ```

use trestle::auth::{password, Jwt};
use trestle::db::Sqlite;
use trestle::prelude::*;

/// This app's pool: SQLite, whichever backends the workspace's features also turn on.
pub type Db = trestle::Db<Sqlite>;
use trestle::time::OffsetDateTime;
use trestle::tracing;

/// todos' own settings (top-level keys in `config/*.toml`, or `APP__MOTD`).
#[derive(Debug, Config, Deserialize)]
pub struct Settings {
    /// The message `GET /api` shows.
    #[config(default = "Hello")]
    pub motd: String,
}

/// What handlers take, a field at a time (`Db`, `State<Jwt>`, `State<Arc<Settings>>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    db: Db,
    jwt: Jwt,
    settings: Arc<Settings>,
}

/// Everything that can go wrong in this app, each with its status.
#[derive(Debug, thiserror::Error, ApiError)]
pub enum TodoError {
    /// No such to-do (or it belongs to someone else: the same answer, so ids do not leak).
    #[error("there is no to-do {0}")]
    #[api(status = 404, title = "To-do not found")]
    NotFound(i64),
    /// The email is registered already.
    #[error("{0} is already registered: log in instead")]
    #[api(status = 409, title = "Email taken")]
    EmailTaken(String),
    /// Login with an unknown email or a wrong password.
    #[error("the email or the password is wrong")]
    #[api(status = 401, title = "Bad credentials")]
    BadCredentials,
    /// A token whose `sub` is not one of our user ids.
    #[error("the token does not name a user of this service")]
    #[api(status = 401, title = "Unknown user")]
    UnknownUser,
}

/// A to-do as stored and as sent.
#[derive(Debug, Serialize, Deserialize, FromRow, JsonSchema)]
pub struct Todo {
    /// Its id.
    pub id: i64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
    /// When it was written down.
    #[serde(with = "trestle::time::serde::rfc3339")]
    // schemars knows no `time` types: described as what `rfc3339` writes.
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: OffsetDateTime,
}

/// Sign-up and login.
#[derive(Deserialize, garde::Validate, JsonSchema)]
pub struct Credentials {
    #[garde(email, length(max = 254))]
    email: String,
    #[garde(length(chars, min = 8, max = 128))]
    password: String,
}

/// A token for the API.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Token {
    /// `Authorization: Bearer <token>`.
    pub token: String,
}

/// A new to-do.
#[derive(Deserialize, garde::Validate, JsonSchema)]
pub struct NewTodo {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    #[schemars(regex(pattern = NOT_BLANK))]
    title: String,
}

/// A change to a to-do; absent fields stay as they are.
#[derive(Deserialize, garde::Validate, JsonSchema)]
pub struct TodoChange {
    // `length` on the `Option` itself (garde checks it when `Some`), not in `inner(…)`: schemars
    // reads `inner` only for arrays, and would leave the limits out of the document.
    #[garde(length(chars, min = 1, max = 200), inner(custom(not_blank)))]
    #[schemars(regex(pattern = NOT_BLANK))]
    title: Option<String>,
    #[garde(skip)]
    done: Option<bool>,
}

/// `?done=true|false` on the list.
#[derive(Deserialize, garde::Validate, JsonSchema)]
pub struct Filter {
    /// Only the to-dos done (`true`) or not (`false`).
    #[garde(skip)]
    done: Option<bool>,
}

/// `not_blank` for the OpenAPI document: at least one character that is not whitespace as
/// `str::trim` counts it (Unicode `White_Space`), spelled out so that ECMA-262 and other regex
/// dialects read it alike (their `\s` differ at U+0085 and U+FEFF).
const NOT_BLANK: &str = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

fn not_blank(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() {
        return Err(garde::Error::new("must not be blank"));
    }
    Ok(())
}

/// The user id in a verified token.
fn user_id(auth: &Auth) -> Result<i64> {
    auth.sub.parse().map_err(|_| TodoError::UnknownUser.into())
}

/// `GET /api`'s answer.
#[derive(Serialize, JsonSchema)]
pub struct Index {
    /// The message of the day (`motd` in the config).
    pub motd: String,
}

/// The message of the day.
#[get("/api")]
async fn index(State(settings): State<Arc<Settings>>) -> Json<Index> {
    Json(Index { motd: settings.motd.clone() })
}

/// Registers a user; answers with a token.
#[post("/api/users", errors = [TodoError::EmailTaken])]
async fn sign_up(
    db: Db,
    State(jwt): State<Jwt>,
    Valid(Json(body)): Valid<Json<Credentials>>,
) -> Result<Created<Json<Token>>> {
    let hash = password::hash(&body.password).await?;
    // The unique index decides: of two sign-ups racing for one email, exactly one is inserted.
    let inserted =
        sqlx::query_scalar!("INSERT INTO users (email, password_hash) VALUES (?1, ?2) RETURNING id", body.email, hash)
            .fetch_one(&*db)
            .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if trestle::db::is_unique_violation(&e) => return Err(TodoError::EmailTaken(body.email).into()),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user.id = id, "user signed up");
    Ok(Created(Json(Token { token: jwt.issue(id.to_string(), ())? })))
}

/// Logs in; answers with a token.
#[post("/api/login", rate_limit = "10/1m", errors = [TodoError::BadCredentials])]
async fn login(db: Db, State(jwt): State<Jwt>, Valid(Json(body)): Valid<Json<Credentials>>) -> Result<Json<Token>> {
    let user =
        sqlx::query!("SELECT id, password_hash FROM users WHERE email = ?1", body.email).fetch_optional(&*db).await?;
    let Some(user) = user else { return Err(TodoError::BadCredentials.into()) };
    if !password::verify(&body.password, &user.password_hash).await? {
        return Err(TodoError::BadCredentials.into());
    }
    Ok(Json(Token { token: jwt.issue(user.id.to_string(), ())? }))
}

/// The caller's to-dos, oldest first, a page at a time (`?limit=&offset=` or `?cursor=`);
/// `?done=` filters.
#[get("/api/todos", errors = [TodoError::UnknownUser])]
async fn list(auth: Auth, db: Db, page: Page, Valid(Query(filter)): Valid<Query<Filter>>) -> Result<Paginated<Todo>> {
    let owner = user_id(&auth)?;
    // A cursor continues after the last id of the previous page; an offset skips rows.
    let after: i64 = page.cursor()?.unwrap_or(0);
    let todos: Vec<Todo> = trestle::sqlx::query_as(
        "SELECT id, title, done, created_at FROM todos
         WHERE owner_id = ?1 AND id > ?2 AND (?3 IS NULL OR done = ?3)
         ORDER BY id LIMIT ?4 OFFSET ?5",
    )
    .bind(owner)
    .bind(after)
    .bind(filter.done)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&*db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT COUNT(*) FROM todos WHERE owner_id = ?1 AND (?2 IS NULL OR done = ?2)",
        owner,
        filter.done
    )
    .fetch_one(&*db)
    .await?;
    Ok(page.respond(todos, Some(total as u64)).with_next_cursor(|last| last.id))
}

/// Writes a to-do down.
#[post("/api/todos", errors = [TodoError::UnknownUser])]
async fn create(auth: Auth, db: Db, Valid(Json(new)): Valid<Json<NewTodo>>) -> Result<Created<Json<Todo>>> {
    let owner = user_id(&auth)?;
    let todo = sqlx::query_as!(
        Todo,
        r#"INSERT INTO todos (owner_id, title) VALUES (?1, ?2)
           RETURNING id AS "id!", title, done, created_at AS "created_at: OffsetDateTime""#,
        owner,
        new.title
    )
    .fetch_one(&*db)
    .await?;
    tracing::info!(todo.id = todo.id, "to-do created");
    Ok(Created(Json(todo)))
}

/// One of the caller's to-dos.
#[get("/api/todos/{id}", errors = [TodoError::NotFound, TodoError::UnknownUser])]
async fn show(auth: Auth, db: Db, Path(id): Path<i64>) -> Result<Json<Todo>> {
    let owner = user_id(&auth)?;
    let todo = sqlx::query_as!(
        Todo,
        r#"SELECT id, title, done, created_at AS "created_at: OffsetDateTime" FROM todos WHERE id = ?1 AND owner_id = ?2"#,
        id,
        owner
    )
    .fetch_optional(&*db)
    .await?;
    todo.map(Json).ok_or_else(|| TodoError::NotFound(id).into())
}

/// Renames a to-do or marks it done (one statement: no read-then-write race).
#[patch("/api/todos/{id}", errors = [TodoError::NotFound, TodoError::UnknownUser])]
async fn update(
    auth: Auth,
    db: Db,
    Path(id): Path<i64>,
    Valid(Json(change)): Valid<Json<TodoChange>>,
) -> Result<Json<Todo>> {
    let owner = user_id(&auth)?;
    let todo = sqlx::query_as!(
        Todo,
        r#"UPDATE todos SET title = COALESCE(?1, title), done = COALESCE(?2, done) WHERE id = ?3 AND owner_id = ?4
           RETURNING id AS "id!", title, done, created_at AS "created_at: OffsetDateTime""#,
        change.title,
        change.done,
        id,
        owner
    )
    .fetch_optional(&*db)
    .await?;
    todo.map(Json).ok_or_else(|| TodoError::NotFound(id).into())
}

/// Deletes a to-do.
#[delete("/api/todos/{id}", errors = [TodoError::NotFound, TodoError::UnknownUser])]
async fn remove(auth: Auth, db: Db, Path(id): Path<i64>) -> Result<NoContent> {
    let owner = user_id(&auth)?;
    let deleted = sqlx::query!("DELETE FROM todos WHERE id = ?1 AND owner_id = ?2", id, owner).execute(&*db).await?;
    if deleted.rows_affected() == 0 {
        return Err(TodoError::NotFound(id).into());
    }
    Ok(NoContent)
}

/// The app, ready to run or to hand to `TestApp`.
pub fn app() -> App<Settings, AppState> {
    App::new()
        .config::<Settings>()
        .database_with::<Sqlite>()
        .migrations(trestle::migrate!())
        .auth()
        .state_async(|ctx| async move {
            let db = ctx.db_of::<Sqlite>();
            let users = sqlx::query_scalar!("SELECT COUNT(*) FROM users").fetch_one(&*db).await?;
            tracing::info!(users, "todos is ready");
            Ok(AppState { db, jwt: ctx.jwt(), settings: ctx.config().clone() })
        })
        .routes(routes![index, sign_up, login, list, create, show, update, remove])
}
