#[derive(trestle::Config, serde::Deserialize)]
enum Settings {
    A,
}

fn main() {}
