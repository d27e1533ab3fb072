//! `#[trestle::test]`: `#[test]` for `async fn`, on a current-thread tokio runtime.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut func: syn::ItemFn = syn::parse2(item)?;
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(args, "`#[trestle::test]` takes no arguments"));
    }
    if func.sig.asyncness.take().is_none() {
        return Err(syn::Error::new_spanned(
            func.sig.fn_token,
            "`#[trestle::test]` goes on an `async fn`; use `#[test]` for a plain function",
        ));
    }
    let body = &func.block;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            ::trestle::__private::test_runtime().block_on(async move #body)
        }
    })
}
