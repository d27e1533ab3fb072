//! `#[derive(trestle::FromRow)]` with sqlx's attributes, through `trestle::sqlx` alone.
use trestle::sqlx::sqlite::SqliteRow;

#[derive(trestle::FromRow, Debug, PartialEq)]
#[sqlx(rename_all = "camelCase")]
struct Author {
    user_name: String,
    #[sqlx(rename = "bio_text")]
    bio: Option<String>,
}

#[derive(trestle::FromRow, Debug, PartialEq)]
struct Article {
    id: i64,
    #[sqlx(flatten)]
    author: Author,
    #[sqlx(default)]
    favorites: i64,
    #[sqlx(skip)]
    cached: Vec<u8>,
    #[sqlx(try_from = "i64")]
    views: u32,
}

#[derive(trestle::FromRow)]
struct Pair(i64, String);

fn assert_row<T: for<'r> trestle::sqlx::FromRow<'r, SqliteRow>>() {}

fn main() {
    assert_row::<Article>();
    assert_row::<Pair>();
}
