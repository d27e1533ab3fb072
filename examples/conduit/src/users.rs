//! Registration, login, the current user.

use trestle::auth::password;
use trestle::axum::http::{HeaderMap, Uri};
use trestle::prelude::*;
use trestle::sqlx::{self, query_as, query_scalar};

use crate::error::ConduitError::{self, BadCredentials, Taken, UnknownUser};
use crate::rules::{email_address, new_password, present, required, text, EMAIL, FILLED, TEXT};

/// `{"user": …}`, in requests and responses.
#[derive(Deserialize, Serialize, JsonSchema, garde::Validate)]
#[schemars(rename = "{T}Body")]
pub struct UserBody<T: garde::Validate<Context = ()>> {
    /// The wrapped object.
    #[garde(dive)]
    pub user: T,
}

/// A registration. (Each field is an `Option` so that a missing one is named by its rule, with
/// RealWorld's "can't be blank"; the schema says what the rules require.)
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub struct NewUser {
    #[garde(custom(required::<64>))]
    #[schemars(with = "String", length(min = 1, max = 64), pattern(FILLED), example = &"jake")]
    username: Option<String>,
    #[garde(custom(required::<254>), custom(email_address))]
    #[schemars(with = "String", length(min = 1, max = 254), pattern(EMAIL), example = &"jake@jake.jake")]
    email: Option<String>,
    #[garde(custom(new_password))]
    #[schemars(with = "String", length(min = 8, max = 128), pattern(TEXT), extend("format" = "password"))]
    #[schemars(example = &"jakejake")]
    password: Option<String>,
}

/// Credentials.
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub struct Login {
    #[garde(custom(required::<254>))]
    #[schemars(with = "String", length(min = 1, max = 254), pattern(FILLED), example = &"jake@jake.jake")]
    email: Option<String>,
    #[garde(custom(required::<128>))]
    #[schemars(with = "String", length(min = 1, max = 128), pattern(FILLED), extend("format" = "password"))]
    #[schemars(example = &"jakejake")]
    password: Option<String>,
}

/// Absent fields stay as they are; `""` or `null` clear `bio` and `image`.
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub struct UserUpdate {
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(required::<254>), custom(email_address)))]
    #[schemars(with = "String", length(min = 1, max = 254), pattern(EMAIL))]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(required::<64>)))]
    #[schemars(with = "String", length(min = 1, max = 64), pattern(FILLED))]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(custom(new_password)))]
    #[schemars(with = "String", length(min = 8, max = 128), pattern(TEXT), extend("format" = "password"))]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(inner(custom(text::<10_000>))))]
    #[schemars(with = "Option<String>", length(max = 10_000), pattern(TEXT), example = &"I like to skateboard")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(inner(custom(text::<2_000>))))]
    #[schemars(with = "Option<String>", length(max = 2_000), pattern(TEXT))]
    image: Option<Option<String>>,
}

/// The user as the API shows it to themselves (a row of `id, email, username, bio, image`).
#[derive(Serialize, FromRow, JsonSchema, garde::Validate)]
#[garde(allow_unvalidated)] // The wrapper is shared with requests; responses have no rules.
pub struct User {
    #[serde(skip)]
    id: i64,
    email: String,
    #[sqlx(skip)]
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

/// A user with their password hash, for logging in.
#[derive(FromRow)]
struct Account {
    #[sqlx(flatten)]
    user: User,
    password_hash: String,
}

type Response = Json<UserBody<User>>;

/// `user` with `token`, or a newly issued one.
fn respond(jwt: &Jwt, mut user: User, token: Option<String>) -> Result<Response> {
    user.token = match token {
        Some(token) => token,
        None => jwt.issue(user.id.to_string(), ())?,
    };
    Ok(Json(UserBody { user }))
}

/// The id in a verified token (`sub`).
pub fn user_id(auth: &Auth) -> Result<i64> {
    auth.sub.parse().map_err(|_| UnknownUser.into())
}

/// `written`, or for a write the unique constraints refused, what a lone duplicate gets: 409
/// naming the username when a user other than `id` has it, else the email.
async fn unique<T>(db: &Db, written: Result<T, sqlx::Error>, username: Option<&str>, id: i64) -> Result<T> {
    match written {
        Err(e) if trestle::db::is_unique_violation(&e) => {}
        written => return Ok(written?),
    }
    let sql = "SELECT EXISTS (SELECT 1 FROM users WHERE username = $1 AND id <> $2)";
    let username_taken: bool = query_scalar(sql).bind(username).bind(id).fetch_one(&**db).await?;
    Err(Taken(if username_taken { "username" } else { "email" }).into())
}

/// Registers a user; the unique constraints decide a race between two registrations.
#[post("/api/users", tags = ["User and Authentication"], errors = [ConduitError::Taken])]
pub async fn register(
    db: Db,
    State(jwt): State<Jwt>,
    Valid(Json(body)): Valid<Json<UserBody<NewUser>>>,
) -> Result<Created<Response>> {
    let new = body.user;
    let hash = password::hash(new.password.as_deref().unwrap_or_default()).await?;
    let inserted = query_as::<_, User>(
        "INSERT INTO users (email, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         RETURNING id, email, username, bio, image",
    )
    .bind(&new.email)
    .bind(&new.username)
    .bind(hash)
    .bind(crate::time::now())
    .fetch_one(&*db)
    .await;
    let user = unique(&db, inserted, new.username.as_deref(), 0).await?;
    Ok(Created(respond(&jwt, user, None)?))
}

/// Logs in with email and password.
#[post("/api/users/login", tags = ["User and Authentication"], errors = [ConduitError::BadCredentials])]
pub async fn login(
    db: Db,
    State(jwt): State<Jwt>,
    Valid(Json(body)): Valid<Json<UserBody<Login>>>,
) -> Result<Response> {
    let account =
        query_as::<_, Account>("SELECT id, email, username, bio, image, password_hash FROM users WHERE email = $1")
            .bind(&body.user.email)
            .fetch_optional(&*db)
            .await?
            .ok_or(BadCredentials)?;
    if !password::verify(body.user.password.as_deref().unwrap_or_default(), &account.password_hash).await? {
        return Err(BadCredentials.into());
    }
    respond(&jwt, account.user, None)
}

/// The logged-in user, with the token the request carried (unexpired: `Auth` verified it).
#[get("/api/user", tags = ["User and Authentication"], errors = [ConduitError::UnknownUser])]
pub async fn current(auth: Auth, db: Db, State(jwt): State<Jwt>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    let token = jwt.token_of(&headers, &uri);
    let user = query_as::<_, User>("SELECT id, email, username, bio, image FROM users WHERE id = $1")
        .bind(user_id(&auth)?)
        .fetch_optional(&*db)
        .await?
        .ok_or(UnknownUser)?;
    respond(&jwt, user, token.map(str::to_owned))
}

/// Updates the logged-in user.
#[put("/api/user", tags = ["User and Authentication"], errors = [ConduitError::Taken, ConduitError::UnknownUser])]
pub async fn update(
    auth: Auth,
    db: Db,
    State(jwt): State<Jwt>,
    Valid(Json(body)): Valid<Json<UserBody<UserUpdate>>>,
) -> Result<Response> {
    let (id, change) = (user_id(&auth)?, body.user);
    let hash = match change.password.flatten() {
        Some(new_password) => Some(password::hash(&new_password).await?),
        None => None,
    };
    let username = change.username.flatten();
    let updated = query_as::<_, User>(
        "UPDATE users SET email = COALESCE($1, email), username = COALESCE($2, username),
                password_hash = COALESCE($3, password_hash), bio = CASE WHEN $4 THEN $5 ELSE bio END,
                image = CASE WHEN $6 THEN $7 ELSE image END, updated_at = $8
         WHERE id = $9 RETURNING id, email, username, bio, image",
    )
    .bind(change.email.flatten())
    .bind(&username)
    .bind(hash)
    .bind(change.bio.is_some())
    .bind(change.bio.flatten().filter(|bio| !bio.is_empty()))
    .bind(change.image.is_some())
    .bind(change.image.flatten().filter(|image| !image.is_empty()))
    .bind(crate::time::now())
    .bind(id)
    .fetch_optional(&*db)
    .await;
    let user = unique(&db, updated, username.as_deref(), id).await?.ok_or(UnknownUser)?;
    respond(&jwt, user, None)
}
