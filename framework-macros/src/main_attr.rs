//! `#[trestle::main]`: a tokio runtime for `async fn main`, without the app naming tokio.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "`#[trestle::main]` takes no arguments: runtime settings come from the `[server]` config section",
        ));
    }
    let mut func: syn::ItemFn = syn::parse2(item)?;
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            func.sig.fn_token,
            "`#[trestle::main]` goes on an `async fn`: write `async fn main()`",
        ));
    }
    if !func.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &func.sig.inputs,
            "`main` takes no arguments: read settings with `App::config::<YourConfig>()`",
        ));
    }
    func.sig.asyncness = None;
    let body = &func.block;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            ::trestle::__private::set_app_manifest_dir(::core::env!("CARGO_MANIFEST_DIR"));
            ::trestle::__private::runtime().block_on(async move #body)
        }
    })
}
