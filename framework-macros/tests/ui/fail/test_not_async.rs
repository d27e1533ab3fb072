#[trestle::test]
fn plain() {}

fn main() {}
