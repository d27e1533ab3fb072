//! Profiles and following.

use trestle::prelude::*;

use crate::error::not_found;
use crate::users::user_id;

/// A user as others see them.
#[derive(Serialize)]
pub struct Profile {
    /// The username.
    pub username: String,
    /// Bio, or null.
    pub bio: Option<String>,
    /// Image URL, or null.
    pub image: Option<String>,
    /// Whether the viewer follows them.
    pub following: bool,
}

#[derive(Serialize)]
pub struct ProfileBody {
    profile: Profile,
}

/// The viewer's user id, or 0 when anonymous (no user has id 0).
pub fn viewer(auth: &Option<Auth>) -> trestle::Result<i64> {
    auth.as_ref().map_or(Ok(0), user_id)
}

async fn load(db: &Db, username: &str, viewer: i64) -> trestle::Result<Profile> {
    let row: Option<(String, Option<String>, Option<String>, bool)> = trestle::sqlx::query_as(
        "SELECT u.username, u.bio, u.image,
                EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followed_id = u.id)
         FROM users u WHERE u.username = $1",
    )
    .bind(username)
    .bind(viewer)
    .fetch_optional(&**db)
    .await?;
    let (username, bio, image, following) = row.ok_or_else(|| not_found("profile"))?;
    Ok(Profile { username, bio, image, following })
}

async fn user_by_name(db: &Db, username: &str) -> trestle::Result<i64> {
    let row: Option<(i64,)> = trestle::sqlx::query_as("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&**db)
        .await?;
    row.map(|(id,)| id).ok_or_else(|| not_found("profile"))
}

/// A user's profile.
#[get("/api/profiles/{username}")]
pub async fn get_profile(
    auth: Option<Auth>,
    db: Db,
    Path(username): Path<String>,
) -> trestle::Result<Json<ProfileBody>> {
    Ok(Json(ProfileBody { profile: load(&db, &username, viewer(&auth)?).await? }))
}

/// Follows a user.
#[post("/api/profiles/{username}/follow")]
pub async fn follow(auth: Auth, db: Db, Path(username): Path<String>) -> trestle::Result<Json<ProfileBody>> {
    let me = user_id(&auth)?;
    let them = user_by_name(&db, &username).await?;
    crate::link(&db, "INSERT INTO follows (follower_id, followed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", me, them)
        .await?;
    Ok(Json(ProfileBody { profile: load(&db, &username, me).await? }))
}

/// Stops following a user.
#[delete("/api/profiles/{username}/follow")]
pub async fn unfollow(auth: Auth, db: Db, Path(username): Path<String>) -> trestle::Result<Json<ProfileBody>> {
    let me = user_id(&auth)?;
    let them = user_by_name(&db, &username).await?;
    crate::link(&db, "DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2", me, them).await?;
    Ok(Json(ProfileBody { profile: load(&db, &username, me).await? }))
}
