#[derive(trestle::Config, serde::Deserialize)]
struct Settings {
    #[config(defualt = 3)]
    page_size: u32,
    #[config(secrte)]
    key: String,
}

fn main() {}
