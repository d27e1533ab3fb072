//! `conduit seed`: example data (the benchmark's data set by default), an app command of the
//! command line every trestle app gets.

use trestle::auth::password;
use trestle::clap;

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

/// Runs a command with the app's context (database connected and migrated).
pub async fn run(command: Command, ctx: crate::Ctx) -> Result<(), trestle::Error> {
    let Command::Seed { users, articles, comments } = command;
    if ctx.profile() == "production" {
        // Known passwords on a production database would be accounts anyone can use.
        return Err(trestle::Error::internal(std::io::Error::other(
            "seed creates users whose password is `password`: it does not run in the production profile",
        )));
    }
    let hash = password::hash("password").await?;
    let mut added = [0u64; 3];
    let now = crate::time::now();
    let db = ctx.db();
    let mut tx = db.begin().await?;
    for n in 1..=users {
        let inserted = trestle::sqlx::query(
            "INSERT INTO users (email, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(format!("seed-user-{n}@example.com"))
        .bind(format!("seed-user-{n}"))
        .bind(&hash)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        added[0] += inserted;
    }
    for n in 1..=articles {
        let author = format!("seed-user-{}", (n - 1) % users.max(1) + 1);
        let inserted = trestle::sqlx::query(
            "INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
             SELECT $1, $2, 'Seeded', 'Seeded article body.', id, $3, $3 FROM users WHERE username = $4
             ON CONFLICT DO NOTHING",
        )
        .bind(format!("seed-article-{n}"))
        .bind(format!("Seed article {n}"))
        .bind(&now)
        .bind(&author)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            continue;
        }
        added[1] += 1;
        for tag in [format!("tag{}", n % 10), format!("tag{}", n % 7 + 10), format!("tag{}", n % 5 + 20)] {
            trestle::sqlx::query(
                "INSERT INTO article_tags (article_id, tag) SELECT id, $2 FROM articles WHERE slug = $1 ON CONFLICT DO NOTHING",
            )
            .bind(format!("seed-article-{n}"))
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        }
    }
    let (existing,): (i64,) = trestle::sqlx::query_as(
        "SELECT COUNT(*) FROM comments WHERE author_id IN (SELECT id FROM users WHERE username LIKE 'seed-user-%')",
    )
    .fetch_one(&mut *tx)
    .await?;
    for n in existing + 1..=comments {
        let inserted_comment = trestle::sqlx::query(
            "INSERT INTO comments (body, article_id, author_id, created_at, updated_at)
             SELECT 'Seeded comment.', a.id, u.id, $3, $3 FROM articles a, users u WHERE a.slug = $1 AND u.username = $2",
        )
        .bind(format!("seed-article-{}", (n - 1) % articles.max(1) + 1))
        .bind(format!("seed-user-{}", (n - 1) % users.max(1) + 1))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        added[2] += inserted_comment.rows_affected();
    }
    tx.commit().await?;
    let [users, articles, comments] = added;
    println!("seeded: {users} users, {articles} articles (3 tags each) and {comments} comments added");
    Ok(())
}
