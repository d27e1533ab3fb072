#[derive(trestle::Config, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(default)]
struct Settings {
    #[config(default = 3)]
    page_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { page_size: 3 }
    }
}

fn main() {}
