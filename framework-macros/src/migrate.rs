//! `trestle::migrate!()`: the crate's sqlx-style `migrations/` folder, embedded at compile time.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::quote;

struct File {
    version: i64,
    description: String,
    kind: &'static str,
    path: PathBuf,
    name: String,
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (relative, span) = if input.is_empty() {
        ("migrations".to_owned(), Span::call_site())
    } else {
        let lit: syn::LitStr = syn::parse2(input)?;
        (lit.value(), lit.span())
    };
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| syn::Error::new(span, "`migrate!` needs CARGO_MANIFEST_DIR: build the crate with cargo"))?;
    let dir = Path::new(&manifest).join(&relative);
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        syn::Error::new(
            span,
            format!(
                "cannot read the migrations folder {} ({e}): create it with a file such as `0001_create_users.sql`, or pass the folder: `trestle::migrate!(\"db/migrations\")`",
                dir.display()
            ),
        )
    })?;

    let mut files = Vec::new();
    let mut problems: Option<syn::Error> = None;
    let mut problem = |message: String| {
        let e = syn::Error::new(span, message);
        match &mut problems {
            Some(p) => p.combine(e),
            None => problems = Some(e),
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if !name.ends_with(".sql") {
            continue;
        }
        let (stem, kind) = if let Some(stem) = name.strip_suffix(".up.sql") {
            (stem, "Up")
        } else if let Some(stem) = name.strip_suffix(".down.sql") {
            (stem, "Down")
        } else {
            (name.trim_end_matches(".sql"), "Simple")
        };
        let Some((version, description)) = stem.split_once('_').and_then(|(v, d)| Some((v.parse::<i64>().ok()?, d)))
        else {
            problem(format!(
                "migration file `{name}` must be named `<VERSION>_<NAME>.sql` (e.g. `0001_create_users.sql`, or `.up.sql`/`.down.sql`)"
            ));
            continue;
        };
        files.push(File { version, description: description.replace('_', " "), kind, path, name });
    }
    files.sort_by(|a, b| (a.version, a.kind).cmp(&(b.version, b.kind)));
    for pair in files.windows(2) {
        if pair[0].version == pair[1].version && pair[0].kind == pair[1].kind {
            problem(format!(
                "two migrations have version {}: `{}` and `{}`; give each its own version",
                pair[0].version,
                pair[0].path.display(),
                pair[1].path.display()
            ));
        }
    }
    if let Some(e) = problems {
        return Err(e);
    }

    let items = files.iter().map(|f| {
        let version = f.version;
        let description = &f.description;
        let path = f.path.to_string_lossy().into_owned();
        let kind = syn::Ident::new(f.kind, Span::call_site());
        let file = &f.name;
        quote! {
            ::trestle::__private::Migration {
                version: #version,
                description: #description,
                sql: ::core::include_str!(#path),
                kind: ::trestle::__private::MigrationKind::#kind,
                file: #file,
            }
        }
    });
    let dir = dir.to_string_lossy().into_owned();
    Ok(quote! {
        ::trestle::__private::Migrations::new(#dir, &[#(#items),*])
    })
}
