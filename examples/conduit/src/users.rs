//! Registration, login, the current user.

use trestle::auth::password;
use trestle::axum::http::{HeaderMap, StatusCode};
use trestle::prelude::*;

use crate::error::{bad_credentials, taken};
use crate::validate::{present, Checks};

/// `{"user": …}`, in requests and responses.
#[derive(Deserialize, Serialize)]
pub struct UserBody<T> {
    /// The wrapped object.
    pub user: T,
}

#[derive(Deserialize)]
pub struct NewUser {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
pub struct Login {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
pub struct UserUpdate {
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
}

/// The user as the API shows it to themselves.
#[derive(Serialize)]
pub struct User {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

type Response = Json<UserBody<User>>;

/// email, username, password hash, bio, image.
type Account = (String, String, String, Option<String>, Option<String>);

/// The id in a verified token (`sub`).
pub fn user_id(auth: &Auth) -> trestle::Result<i64> {
    auth.sub
        .parse()
        .map_err(|_| Error::unauthorized("the token does not name a user").with_type(trestle::auth::INVALID_TOKEN))
}

/// The first of `fields` (`"username"` or `"email"`, value) that a user other than `except`
/// already has. One query, so one snapshot: a user committed between two queries cannot make a
/// later field the answer where a lone duplicate gets the first.
async fn first_taken(db: &Db, fields: &[(&'static str, &str)], except: i64) -> trestle::Result<Option<&'static str>> {
    if fields.is_empty() {
        return Ok(None);
    }
    let value = |name: &str| fields.iter().find(|(field, _)| *field == name).map(|(_, value)| *value);
    let holders: Vec<(String, String)> =
        trestle::sqlx::query_as("SELECT username, email FROM users WHERE (username = $1 OR email = $2) AND id <> $3")
            .bind(value("username"))
            .bind(value("email"))
            .bind(except)
            .fetch_all(&**db)
            .await?;
    let held = |field: &str, value: &str| {
        holders.iter().any(|(username, email)| if field == "username" { username == value } else { email == value })
    };
    Ok(fields.iter().find(|(field, value)| held(field, value)).map(|(field, _)| *field))
}

/// The answer to a write that failed: a unique violation (a concurrent request took a value
/// after the checks) is answered as the checks would answer now, so the request that lost the
/// race gets what a lone duplicate gets; which constraint the database reported first varies.
async fn lost_race(db: &Db, e: trestle::sqlx::Error, fields: &[(&'static str, &str)], except: i64) -> Error {
    if !trestle::db::is_unique_violation(&e) {
        return e.into();
    }
    match first_taken(db, fields, except).await {
        Ok(Some(field)) => taken(field),
        Ok(None) => taken(if trestle::db::constraint(&e).unwrap_or_default().contains("username") {
            "username"
        } else {
            "email"
        }),
        Err(other) => other,
    }
}

/// The user `id` with a fresh token.
/// The user `id`, with `token` (the one their request carried) or a new one.
async fn load(db: &Db, jwt: &Jwt, id: i64, token: Option<String>) -> trestle::Result<User> {
    let row: Option<(String, String, Option<String>, Option<String>)> =
        trestle::sqlx::query_as("SELECT email, username, bio, image FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&**db)
            .await?;
    let (email, username, bio, image) = row.ok_or_else(|| {
        Error::unauthorized("the token's user no longer exists").with_type(trestle::auth::INVALID_TOKEN)
    })?;
    let token = match token {
        Some(token) => token,
        None => jwt.issue(id.to_string(), ())?,
    };
    Ok(User { email, token, username, bio, image })
}

/// Registers a user.
#[post("/api/users")]
pub async fn register(
    db: Db,
    State(jwt): State<Jwt>,
    Json(body): Json<UserBody<NewUser>>,
) -> trestle::Result<(StatusCode, Response)> {
    let new = body.user;
    let mut checks = Checks::default();
    let username = checks.required("username", new.username.as_deref(), 64).to_owned();
    let email = checks.email(new.email.as_deref()).to_owned();
    checks.password(new.password.as_deref());
    checks.finish()?;
    let unique = [("username", username.as_str()), ("email", email.as_str())];
    if let Some(field) = first_taken(&db, &unique, 0).await? {
        return Err(taken(field));
    }
    let hash = password::hash(new.password.as_deref().unwrap_or_default()).await?;
    let now = crate::time::now();
    let inserted: Result<(i64,), _> = trestle::sqlx::query_as(
        "INSERT INTO users (email, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(&email)
    .bind(&username)
    .bind(&hash)
    .bind(&now)
    .fetch_one(&*db)
    .await;
    let (id,) = match inserted {
        Ok(row) => row,
        Err(e) => return Err(lost_race(&db, e, &unique, 0).await),
    };
    Ok((StatusCode::CREATED, Json(UserBody { user: load(&db, &jwt, id, None).await? })))
}

/// Logs in with email and password.
#[post("/api/users/login")]
pub async fn login(db: Db, State(jwt): State<Jwt>, Json(body): Json<UserBody<Login>>) -> trestle::Result<Response> {
    let mut checks = Checks::default();
    let email = checks.required("email", body.user.email.as_deref(), 254);
    let password = checks.required("password", body.user.password.as_deref(), 128);
    checks.finish()?;
    let row: Option<(i64, String)> = trestle::sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&*db)
        .await?;
    let Some((id, hash)) = row else { return Err(bad_credentials()) };
    if !password::verify(password, &hash).await? {
        return Err(bad_credentials());
    }
    Ok(Json(UserBody { user: load(&db, &jwt, id, None).await? }))
}

/// The logged-in user.
#[get("/api/user")]
pub async fn current(auth: Auth, db: Db, State(jwt): State<Jwt>, headers: HeaderMap) -> trestle::Result<Response> {
    // `Auth` verified the token the request carries: it goes back as it is, unexpired, instead
    // of a newly signed one on every call.
    let token = headers
        .get(trestle::axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim().to_owned());
    Ok(Json(UserBody { user: load(&db, &jwt, user_id(&auth)?, token).await? }))
}

/// Updates the logged-in user; absent fields stay as they are, `""` or `null` clear `bio` and `image`.
#[put("/api/user")]
pub async fn update(
    auth: Auth,
    db: Db,
    State(jwt): State<Jwt>,
    Json(body): Json<UserBody<UserUpdate>>,
) -> trestle::Result<Response> {
    let id = user_id(&auth)?;
    let change = body.user;
    let current: Option<Account> =
        trestle::sqlx::query_as("SELECT email, username, password_hash, bio, image FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&*db)
            .await?;
    let (mut email, mut username, mut hash, mut bio, mut image) = current.ok_or_else(|| {
        Error::unauthorized("the token's user no longer exists").with_type(trestle::auth::INVALID_TOKEN)
    })?;

    let mut checks = Checks::default();
    if let Some(value) = &change.email {
        email = checks.email(value.as_deref()).to_owned();
    }
    if let Some(value) = &change.username {
        username = checks.required("username", value.as_deref(), 64).to_owned();
    }
    if let Some(value) = &change.password {
        checks.password(value.as_deref());
    }
    for (field, value, slot, max) in
        [("bio", &change.bio, &mut bio, 10_000), ("image", &change.image, &mut image, 2_000)]
    {
        if let Some(value) = value {
            let value = value.as_deref().filter(|v| !v.is_empty());
            if let Some(v) = value {
                checks.text(field, v, max);
            }
            *slot = value.map(str::to_owned);
        }
    }
    checks.finish()?;
    let changed =
        [("email", change.email.is_some(), email.as_str()), ("username", change.username.is_some(), username.as_str())];
    let unique: Vec<_> = changed.into_iter().filter(|(_, changed, _)| *changed).map(|(f, _, v)| (f, v)).collect();
    if let Some(field) = first_taken(&db, &unique, id).await? {
        return Err(taken(field));
    }
    if let Some(Some(new_password)) = &change.password {
        hash = password::hash(new_password).await?;
    }
    let updated = trestle::sqlx::query(
        "UPDATE users SET email = $1, username = $2, password_hash = $3, bio = $4, image = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&email)
    .bind(&username)
    .bind(&hash)
    .bind(&bio)
    .bind(&image)
    .bind(crate::time::now())
    .bind(id)
    .execute(&*db)
    .await;
    if let Err(e) = updated {
        return Err(lost_race(&db, e, &unique, id).await);
    }
    Ok(Json(UserBody { user: load(&db, &jwt, id, None).await? }))
}
