//! `#[derive(Trace)]` for tmgc.
//!
//! The derive implements `tmgc::Trace` by tracing every field, for structs
//! (named, tuple, unit) and enums, and adds a `Trace` bound to every type
//! parameter. `HAS_REFS` is the `or` of the fields' own, so a type with no
//! reference field is never scanned by the marker.
//!
//! Soundness rests on the fields' own `Trace` impls: the derive never skips
//! a field. A field that holds no heap reference still has to implement
//! `Trace` (primitives, `String`, `Vec<T: Trace>`, ... do); use
//! `tmgc::NoTrace<T>` to wrap a foreign type that holds none.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, parse_quote, Data, DeriveInput, Fields, GenericParam, Index};

/// Derive `tmgc::Trace` by tracing every field (of a struct, or of an
/// enum's live variant).
///
/// Every field's type must implement `Trace`. Which types do:
///
/// | field type | what it is |
/// |---|---|
/// | `tmgc::Ref<T>` | a reference, read and written through a transaction (`Tx::load`, `Tx::store`) |
/// | `tmgc::Value<W>` | word-sized data (integers, `bool`, `f64`, `char`), read and written through a transaction (`Tx::get`, `Tx::set`) |
/// | primitives, `String`, `Box<str>` | immutable data (set at allocation) |
/// | the std atomics | data written *outside* the transaction: a store through one is not logged, not undone by an abort or a retry, and not seen by conflict detection (counters, statistics) |
/// | `Vec<T>`, `[T; N]`, `Option<T>`, `Box<T>` of such types | immutable containers (a `Vec<Ref<T>>` is traced; its references never change after allocation) |
/// | `tmgc::NoTrace<T>` | any type that holds no reference: `T: NoTraceSafe`, which tmgc implements for the std containers of such types (a `NoTrace<HashMap<String, u64>>` field needs no code of yours) |
/// | a type of yours with `#[derive(Trace)]` | nested |
///
/// A foreign type (another crate's) that holds no reference: wrap it in a
/// type of your own, `unsafe impl tmgc::NoTraceSafe` for the wrapper (the
/// promise that no `Ref` is inside), and hold it as `NoTrace<Wrapper>`.
/// Fields other than `Ref` and `Value` are immutable after allocation
/// (the transaction layer only writes those two), except through interior
/// mutability (atomics, a `Mutex` in a `NoTrace`), which bypasses the
/// transaction as the table says.
///
/// (Marked `ignore`, so `cargo test` lists it as ignored: this crate cannot
/// depend on tmgc to compile it; tmgc's README and `Trace` docs run derives.)
///
/// ```ignore
/// #[derive(tmgc::Trace)]
/// struct Account {
///     owner: String,                             // immutable
///     balance: tmgc::Value<i64>,                 // transactional data
///     next: tmgc::Ref<Account>,                  // transactional reference
///     tags: tmgc::NoTrace<std::collections::HashMap<String, u64>>,
/// }
/// ```
#[proc_macro_derive(Trace)]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let mut input = parse_macro_input!(input as DeriveInput);
    for p in &mut input.generics.params {
        if let GenericParam::Type(t) = p {
            t.bounds.push(parse_quote!(::tmgc::Trace));
        }
    }
    let name = &input.ident;
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let mut field_types = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pat, calls) = destructure(&s.fields, &mut field_types);
            quote! { let Self #pat = self; #calls }
        }
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|v| {
                let vname = &v.ident;
                let (pat, calls) = destructure(&v.fields, &mut field_types);
                quote! { Self::#vname #pat => { #calls } }
            });
            quote! {
                #[allow(unreachable_patterns)]
                match self { #(#arms)* _ => {} }
            }
        }
        Data::Union(u) => {
            return syn::Error::new_spanned(
                u.union_token,
                "Trace cannot be derived for unions: which field is live is unknown",
            )
            .to_compile_error()
            .into();
        }
    };
    let has_refs = if field_types.is_empty() {
        quote! { false }
    } else {
        quote! { false #(|| <#field_types as ::tmgc::Trace>::HAS_REFS)* }
    };
    quote! {
        // SAFETY: generated: traces every field, and each field's type is `Trace`.
        unsafe impl #impl_g ::tmgc::Trace for #name #ty_g #where_c {
            const HAS_REFS: bool = #has_refs;
            #[inline]
            #[allow(unused_variables)]
            fn trace(&self, tracer: &mut ::tmgc::Tracer<'_>) {
                #body
            }
        }
    }
    .into()
}

/// A pattern binding every field by reference, and the calls tracing them.
fn destructure(fields: &Fields, types: &mut Vec<syn::Type>) -> (TokenStream2, TokenStream2) {
    match fields {
        Fields::Named(n) => {
            let names: Vec<_> = n.named.iter().map(|f| f.ident.clone().expect("named")).collect();
            types.extend(n.named.iter().map(|f| f.ty.clone()));
            (quote! { { #(#names),* } }, quote! { #(::tmgc::Trace::trace(#names, tracer);)* })
        }
        Fields::Unnamed(u) => {
            let names: Vec<_> = (0..u.unnamed.len()).map(|i| format_ident!("f{}", Index::from(i))).collect();
            types.extend(u.unnamed.iter().map(|f| f.ty.clone()));
            (quote! { ( #(#names),* ) }, quote! { #(::tmgc::Trace::trace(#names, tracer);)* })
        }
        Fields::Unit => (quote! {}, quote! {}),
    }
}
