//! `conduit seed`: example data (the benchmark's data set by default), an app command of the
//! command line every trestle app gets.

use trestle::auth::password;
use trestle::clap;
use trestle::config::NoConfig;
use trestle::sqlx::query;

/// conduit's own commands, beside trestle's (`serve`, `migrate`, …).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Fill the database with example users, articles (three tags each) and comments; rows that
    /// exist are kept, so running it twice adds nothing.
    Seed {
        /// Users `seed-user-1` … (password `password`).
        #[arg(long, default_value_t = 20)]
        users: i64,
        /// Articles, by the users in turn.
        #[arg(long, default_value_t = 500)]
        articles: i64,
        /// Comments, on the articles in turn.
        #[arg(long, default_value_t = 2000)]
        comments: i64,
    },
}

/// Users `seed-user-<i>` for i in 1..=`$1`, password hash `$2`.
const USERS: &str = "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
    INSERT INTO users (email, username, password_hash, created_at, updated_at)
    SELECT 'seed-user-' || i || '@example.com', 'seed-user-' || i, $2, $3, $3 FROM n WHERE i <= $1
    ON CONFLICT DO NOTHING";

/// Articles `seed-article-<i>` for i in 1..=`$1`, by the `$2` users in turn.
const ARTICLES: &str = "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
    INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
    SELECT 'seed-article-' || i, 'Seed article ' || i, 'Seeded', 'Seeded article body.', u.id, $3, $3
    FROM n JOIN users u ON u.username = 'seed-user-' || ((i - 1) % $2 + 1) WHERE i <= $1
    ON CONFLICT DO NOTHING";

/// The tags of articles 1..=`$1`: `tag<i % 10>`, `tag<i % 7 + 10>` and `tag<i % 5 + 20>`.
const TAGS: &str = "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1),
        k (m, o) AS (VALUES (10, 0), (7, 10), (5, 20))
    INSERT INTO article_tags (article_id, tag)
    SELECT a.id, 'tag' || (i % m + o) FROM n JOIN articles a ON a.slug = 'seed-article-' || i, k WHERE i <= $1
    ON CONFLICT DO NOTHING";

/// Comments up to the `$1`th by seed users (the first numbered after those already there), on
/// the `$2` articles and by the `$3` users in turn.
const COMMENTS: &str = "WITH RECURSIVE n (i) AS (
        SELECT COUNT(*) + 1 FROM comments c JOIN users u ON u.id = c.author_id WHERE u.username LIKE 'seed-user-%'
        UNION ALL SELECT i + 1 FROM n WHERE i < $1)
    INSERT INTO comments (body, article_id, author_id, created_at, updated_at)
    SELECT 'Seeded comment.', a.id, u.id, $4, $4 FROM n
    JOIN articles a ON a.slug = 'seed-article-' || ((i - 1) % $2 + 1)
    JOIN users u ON u.username = 'seed-user-' || ((i - 1) % $3 + 1) WHERE i <= $1";

/// Runs a command with the app's context (database connected and migrated).
pub async fn run(command: Command, ctx: trestle::Context<NoConfig>) -> Result<(), trestle::Error> {
    let Command::Seed { users, articles, comments } = command;
    if ctx.profile() == "production" {
        // Known passwords on a production database would be accounts anyone can use.
        return Err(trestle::Error::internal(std::io::Error::other(
            "seed creates users whose password is `password`: it does not run in the production profile",
        )));
    }
    let (hash, now, db) = (password::hash("password").await?, crate::time::now(), ctx.db());
    let mut tx = db.begin().await?;
    let users_added = query(USERS).bind(users).bind(hash).bind(&now).execute(&mut *tx).await?.rows_affected();
    let added = query(ARTICLES).bind(articles).bind(users.max(1)).bind(&now).execute(&mut *tx).await?.rows_affected();
    query(TAGS).bind(articles).execute(&mut *tx).await?;
    let commented =
        query(COMMENTS).bind(comments).bind(articles.max(1)).bind(users.max(1)).bind(&now).execute(&mut *tx).await?;
    tx.commit().await?;
    let comments = commented.rows_affected();
    println!("seeded: {users_added} users, {added} articles (3 tags each) and {comments} comments added");
    Ok(())
}
