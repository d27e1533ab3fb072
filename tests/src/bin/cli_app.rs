//! An app with every part its command line reaches: config with a secret, a database with
//! reversible migrations (`tests/cli_migrations`), JWT auth, routes, a readiness check and
//! commands of its own. The backend follows `APP__DATABASE__URL`.

use trestle::clap;
use trestle::prelude::*;

/// The app's settings.
#[derive(Config, Deserialize)]
struct Settings {
    /// How to greet.
    #[config(default = "hello")]
    greeting: String,
    /// The partner's API key.
    partner_key: Option<Secret<String>>,
}

/// The app's own commands.
#[derive(clap::Subcommand)]
enum Tasks {
    /// Insert things named `thing-1` … and print how many there are.
    Fill {
        /// How many to insert.
        #[arg(long)]
        count: i64,
    },
    /// Fail, to show how a failing command ends.
    Fail,
}

/// Greets.
#[get("/hello")]
async fn hello(State(ctx): State<Context<Settings>>) -> String {
    let partner = if ctx.config().partner_key.is_some() { "with" } else { "without" };
    format!("{} ({partner} a partner key)", ctx.config().greeting)
}

/// Reads a thing.
#[get("/things/{id}")]
async fn thing(_auth: Option<Auth>, Path(id): Path<i64>) -> String {
    id.to_string()
}

/// Creates a thing.
#[post("/things", scopes = ["things:write"], rate_limit = "5/1m")]
async fn create(_auth: Auth) -> &'static str {
    "created"
}

/// Inserts `count` things into `pool` and prints how many there are.
macro_rules! fill {
    ($pool:expr, $insert:literal, $count:expr) => {{
        for n in 1..=$count {
            trestle::sqlx::query($insert).bind(format!("thing-{n}")).execute($pool).await?;
        }
        let (total,): (i64,) = trestle::sqlx::query_as("SELECT COUNT(*) FROM things").fetch_one($pool).await?;
        println!("things: {total}");
    }};
}

async fn run(task: Tasks, ctx: Context<Settings>) -> trestle::Result<()> {
    match task {
        Tasks::Fill { count } => {
            if let Some(db) = ctx.try_db::<trestle::db::Postgres>() {
                fill!(&*db, "INSERT INTO things (name) VALUES ($1)", count);
            } else if let Some(db) = ctx.try_db::<trestle::db::Sqlite>() {
                fill!(&*db, "INSERT INTO things (name) VALUES (?)", count);
            }
            Ok(())
        }
        Tasks::Fail => Err(trestle::Error::internal(std::io::Error::other("the fail command always fails"))),
    }
}

fn app<DB: trestle::db::Backend>() -> App<Settings, Context<Settings>> {
    App::new()
        .config::<Settings>()
        .database_with::<DB>()
        .migrations(trestle::migrate!("cli_migrations"))
        .auth()
        .readiness_check("switch", || async {
            match std::env::var("CLI_APP_NOT_READY") {
                Ok(_) => Err("CLI_APP_NOT_READY is set"),
                Err(_) => Ok(()),
            }
        })
        .commands(run)
        .state(|ctx| ctx.clone())
        .routes(routes![hello, thing, create])
}

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    let url = std::env::var("APP__DATABASE__URL").unwrap_or_default();
    if url.starts_with("postgres") {
        app::<trestle::db::Postgres>().run().await
    } else {
        app::<trestle::db::Sqlite>().run().await
    }
}
