//! `#[derive(Config)]`: the schema of a config struct (keys, types, defaults, docs, secrets)
//! and its validation hooks.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attrs::{doc_comment, last_segment, type_name, Errors};

const FIELD_ATTRS: &str = "expected one of `default = <value>`, `secret`, `nested`, `validate = path::to::fn`";

struct Field {
    ident: syn::Ident,
    /// `#[serde(default)]`: serde fills it in, so the loader must not require it.
    serde_default: bool,
    key: String,
    ty: syn::Type,
    doc: String,
    default: Option<syn::Expr>,
    secret: bool,
    nested: bool,
    validate: Option<syn::Path>,
}

pub(crate) fn expand(input: syn::DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        errors.add(
            &input.generics,
            "`#[derive(Config)]` does not support generic structs: give the config struct concrete field types",
        );
    }
    let named = match &input.data {
        syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) => named,
        _ => {
            return Err(syn::Error::new(
                ident.span(),
                "`#[derive(Config)]` needs a struct with named fields: each field is a config key",
            ))
        }
    };

    let struct_validate = parse_struct_attrs(&input.attrs, &mut errors);
    let fields: Vec<Field> = named.named.iter().filter_map(|f| parse_field(f, &mut errors)).collect();
    errors.finish()?;

    let descriptors = fields.iter().map(field_descriptor);
    let checks = fields.iter().filter_map(|f| {
        let id = &f.ident;
        let key = &f.key;
        let mut out = TokenStream::new();
        if let Some(path) = &f.validate {
            out.extend(quote_spanned! {path.span()=> errors.field(#key, #path(&self.#id)); });
        }
        if f.nested {
            out.extend(quote! { errors.nested(#key, ::trestle::config::Config::validate(&self.#id)); });
        }
        (!out.is_empty()).then_some(out)
    });
    let struct_check = struct_validate.map(|path| quote_spanned! {path.span()=> errors.field("", #path(self)); });

    Ok(quote! {
        impl ::trestle::config::Config for #ident {
            fn fields() -> ::std::vec::Vec<::trestle::config::Field> {
                ::std::vec![#(#descriptors),*]
            }

            fn validate(&self) -> ::std::result::Result<(), ::trestle::config::ValidationErrors> {
                #[allow(unused_mut)]
                let mut errors = ::trestle::config::ValidationErrors::default();
                #(#checks)*
                #struct_check
                errors.into_result()
            }
        }
    })
}

/// Struct-level serde attributes the schema cannot follow, each with what to do instead.
const UNSUPPORTED_SERDE_CONTAINER: &[(&str, &str)] = &[
    ("rename_all", "config keys are the field names: rename a field with `#[serde(rename = \"key\")]`"),
    ("rename_all_fields", "config keys are the field names: rename a field with `#[serde(rename = \"key\")]`"),
    (
        "deny_unknown_fields",
        "the app's struct shares its tree with the framework's sections, so it would reject them; the loader already reports unknown keys (warnings, errors in production)",
    ),
    ("default", "give each field `#[config(default = ...)]` (or `#[serde(default)]` on the field) so the schema knows it is not required"),
    ("tag", "a config struct is a table of keys: remove it"),
    ("content", "a config struct is a table of keys: remove it"),
    ("untagged", "a config struct is a table of keys: remove it"),
    ("transparent", "a config struct is a table of keys: make the field a key of its own struct"),
    ("from", "the schema describes this struct's fields: derive `Config` on the type it converts from"),
    ("try_from", "the schema describes this struct's fields: derive `Config` on the type it converts from, and check with `#[config(validate = ...)]`"),
    ("remote", "derive `Config` on a struct of your own"),
];

/// Field-level serde attributes the schema cannot follow, each with what to do instead.
const UNSUPPORTED_SERDE_FIELD: &[(&str, &str)] = &[
    ("flatten", "mark a section `#[config(nested)]`: its keys then sit in their own table"),
    ("alias", "the schema knows one key per field, so an alias would be reported as unknown: use `#[serde(rename = \"key\")]`"),
    ("skip", "every field of a config struct is a key: move this field out of the config struct"),
    ("skip_deserializing", "every field of a config struct is a key: move this field out of the config struct"),
];

/// Reports each serde attribute in `unsupported` and shows the rest to `read`, which gets the
/// attribute's name and returns whether it consumed the value (an error is reported).
fn check_serde_attrs(
    attrs: &[syn::Attribute],
    unsupported: &[(&str, &str)],
    errors: &mut Errors,
    mut read: impl FnMut(&str, &syn::meta::ParseNestedMeta) -> syn::Result<bool>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Malformed serde attributes are serde's to report: only our own findings are kept.
        let _ = attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            if let Some((_, fix)) = unsupported.iter().find(|(n, _)| *n == name) {
                errors.push(meta.error(format!("`#[derive(Config)]` does not support `#[serde({name})]`: {fix}")));
            } else {
                match read(&name, &meta) {
                    Ok(true) => return Ok(()),
                    Ok(false) => {}
                    Err(e) => errors.push(e),
                }
            }
            skip_value(&meta)
        });
    }
}

/// Consumes `= value` or `(...)` after a serde attribute's name.
fn skip_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

fn parse_struct_attrs(attrs: &[syn::Attribute], errors: &mut Errors) -> Option<syn::Path> {
    check_serde_attrs(attrs, UNSUPPORTED_SERDE_CONTAINER, errors, |_, _| Ok(false));
    let mut validate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("validate") {
                validate = Some(meta.value()?.parse::<syn::Path>()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown `config` attribute on the struct: expected `validate = path::to::fn` (a `fn(&Self) -> Result<(), impl Display>`)",
                ))
            }
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    validate
}

fn parse_field(field: &syn::Field, errors: &mut Errors) -> Option<Field> {
    let ident = field.ident.clone()?;
    let mut key = ident.to_string().trim_start_matches("r#").to_owned();
    let mut out = Field {
        ident,
        serde_default: false,
        key: String::new(),
        ty: field.ty.clone(),
        doc: doc_comment(&field.attrs),
        default: None,
        secret: is_secret(&field.ty),
        nested: false,
        validate: None,
    };
    check_serde_attrs(&field.attrs, UNSUPPORTED_SERDE_FIELD, errors, |name, meta| {
        match name {
            "default" => {
                out.serde_default = true;
                Ok(false)
            }
            // Keys follow serde's `rename`, so the schema names what the file must contain.
            "rename" if meta.input.peek(syn::Token![=]) => {
                key = meta.value()?.parse::<syn::LitStr>()?.value();
                Ok(true)
            }
            "rename" => Err(meta.error(
                "`#[derive(Config)]` reads one key per field: write `#[serde(rename = \"key\")]`, not `rename(...)`",
            )),
            _ => Ok(false),
        }
    });
    for attr in &field.attrs {
        if !attr.path().is_ident("config") {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                out.default = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("secret") {
                out.secret = true;
            } else if meta.path.is_ident("nested") {
                out.nested = true;
            } else if meta.path.is_ident("validate") {
                out.validate = Some(meta.value()?.parse()?);
            } else {
                let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
                return Err(meta.error(format!("unknown `config` attribute `{name}`: {FIELD_ATTRS}")));
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if out.nested {
        if let Some(default) = &out.default {
            errors.add(
                default,
                "a `nested` section takes its defaults from its own struct's fields: remove `default` here",
            );
        }
    }
    out.key = key;
    Some(out)
}

fn field_descriptor(f: &Field) -> TokenStream {
    let key = &f.key;
    let ty = &f.ty;
    let ty_name = type_name(ty);
    let doc = &f.doc;
    let secret = f.secret;
    let optional = f.serde_default || last_segment(ty).as_deref() == Some("Option");
    let default = match &f.default {
        Some(expr) => quote_spanned! {expr.span()=>
            ::std::option::Option::Some(|| ::trestle::__private::config_default(&(#expr)))
        },
        None => quote!(::std::option::Option::None),
    };
    let nested = if f.nested {
        quote_spanned! {ty.span()=> ::std::option::Option::Some(<#ty as ::trestle::config::Config>::fields) }
    } else {
        quote!(::std::option::Option::None)
    };
    quote! {
        ::trestle::config::Field {
            name: #key,
            ty: #ty_name,
            doc: #doc,
            default: #default,
            secret: #secret,
            optional: #optional,
            nested: #nested,
        }
    }
}

/// `Secret<T>`, or any type holding one (`Option<Secret<T>>`, `BTreeMap<String, Secret<T>>`).
fn is_secret(ty: &syn::Type) -> bool {
    if last_segment(ty).as_deref() == Some("Secret") {
        return true;
    }
    let syn::Type::Path(p) = ty else { return false };
    let Some(syn::PathArguments::AngleBracketed(args)) = p.path.segments.last().map(|s| &s.arguments) else {
        return false;
    };
    args.args.iter().any(|a| matches!(a, syn::GenericArgument::Type(inner) if is_secret(inner)))
}
