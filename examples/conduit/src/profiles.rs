//! Profiles and following.

use trestle::prelude::*;

use crate::error::ConduitError::{self, NotFound};
use crate::rules::Name;
use crate::users::user_id;

/// A user as others see them: a row of `username, bio, image, following`.
#[derive(Serialize, FromRow, JsonSchema)]
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

/// `{"profile": …}`.
#[derive(Serialize, JsonSchema)]
pub struct ProfileBody {
    profile: Profile,
}

/// The viewer's user id, or 0 when anonymous (no user has id 0).
pub fn viewer(auth: &Option<Auth>) -> Result<i64> {
    auth.as_ref().map_or(Ok(0), user_id)
}

/// `username`'s profile as `viewer` sees it, or 404.
async fn load(db: &Db, username: &str, viewer: i64) -> Result<Json<ProfileBody>> {
    let profile = trestle::sqlx::query_as::<_, Profile>(
        "SELECT u.username, u.bio, u.image,
                EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followed_id = u.id) AS following
         FROM users u WHERE u.username = $1",
    )
    .bind(username)
    .bind(viewer)
    .fetch_optional(&**db)
    .await?
    .ok_or(NotFound("profile"))?;
    Ok(Json(ProfileBody { profile }))
}

/// A user's profile.
#[get("/api/profiles/{username}", tags = ["Profile"], errors = [ConduitError::NotFound])]
pub async fn get_profile(auth: Option<Auth>, db: Db, Path(Name(username)): Path<Name>) -> Result<Json<ProfileBody>> {
    load(&db, &username, viewer(&auth)?).await
}

/// Follows a user.
#[post("/api/profiles/{username}/follow", tags = ["Profile"], errors = [ConduitError::NotFound])]
pub async fn follow(auth: Auth, db: Db, Path(Name(username)): Path<Name>) -> Result<Json<ProfileBody>> {
    let me = user_id(&auth)?;
    let sql = "INSERT INTO follows (follower_id, followed_id) SELECT $1, id FROM users WHERE username = $2
               ON CONFLICT DO NOTHING";
    trestle::sqlx::query(sql).bind(me).bind(&username).execute(&*db).await?;
    load(&db, &username, me).await
}

/// Stops following a user.
#[delete("/api/profiles/{username}/follow", tags = ["Profile"], errors = [ConduitError::NotFound])]
pub async fn unfollow(auth: Auth, db: Db, Path(Name(username)): Path<Name>) -> Result<Json<ProfileBody>> {
    let me = user_id(&auth)?;
    let sql = "DELETE FROM follows WHERE follower_id = $1 AND followed_id = (SELECT id FROM users WHERE username = $2)";
    trestle::sqlx::query(sql).bind(me).bind(&username).execute(&*db).await?;
    load(&db, &username, me).await
}
