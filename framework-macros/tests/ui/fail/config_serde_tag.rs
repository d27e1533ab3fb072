#[derive(trestle::Config, serde::Deserialize)]
#[serde(tag = "kind")]
struct Settings {
    #[config(default = 3)]
    page_size: u32,
}

fn main() {}
