#[derive(Clone, trestle::FromRef)]
enum NotAStruct {
    A,
}

#[derive(Clone, trestle::FromRef)]
struct Tuple(u8);

#[derive(Clone, trestle::FromRef)]
struct Unknown {
    #[from_ref(ignore)]
    a: u8,
}

fn main() {}
