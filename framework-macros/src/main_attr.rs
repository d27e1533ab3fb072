//! `#[trestle::main]`: a tokio runtime for `async fn main`, without the app naming tokio.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attrs::Errors;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut func: syn::ItemFn = syn::parse2(item)?;
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[trestle::main]` takes no arguments: runtime settings come from the `[server]` config section",
        ));
    }
    if !func.sig.inputs.is_empty() {
        errors.add(&func.sig.inputs, "`main` takes no arguments: read settings with `App::config::<YourConfig>()`");
    }
    let expanded = if func.sig.asyncness.take().is_none() {
        errors.add(func.sig.fn_token, "`#[trestle::main]` goes on an `async fn`: write `async fn main()`");
        // Keep the function as written, so the only error is ours.
        quote!(#func)
    } else {
        let body = &func.block;
        let attrs = &func.attrs;
        let vis = &func.vis;
        let sig = &func.sig;
        quote! {
            #(#attrs)*
            #vis #sig {
                ::trestle::__private::set_app_package(
                    ::core::env!("CARGO_MANIFEST_DIR"),
                    ::core::env!("CARGO_PKG_NAME"),
                    ::core::env!("CARGO_PKG_VERSION"),
                    ::core::env!("CARGO_PKG_DESCRIPTION"),
                );
                ::trestle::__private::runtime().block_on(async move #body)
            }
        }
    };
    Ok(match errors.finish() {
        Ok(()) => expanded,
        Err(e) => {
            let e = e.into_compile_error();
            quote!(#e #expanded)
        }
    })
}
