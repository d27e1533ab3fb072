#[derive(trestle::FromRow)]
enum Status {
    Open,
}

#[derive(trestle::FromRow)]
#[sqlx(rename_all = "Title Case")]
struct Row {
    #[sqlx(renamed = "x")]
    id: i64,
}

fn main() {}
