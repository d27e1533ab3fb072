use trestle::prelude::*;

/// A body without a schema: `JsonSchema` is not derived.
#[derive(Deserialize)]
struct Upload {
    name: String,
}

/// An extractor of the app's own that says nothing about the document.
struct Tenant;

impl<S: Send + Sync> trestle::axum::extract::FromRequestParts<S> for Tenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut trestle::axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Tenant)
    }
}

/// Takes a body the document cannot describe.
#[post("/uploads")]
async fn upload(Json(upload): Json<Upload>) -> String {
    upload.name
}

/// Takes an extractor the document does not know.
#[get("/tenant")]
async fn tenant(_tenant: Tenant) -> &'static str {
    "tenant"
}

/// Answers with something the document cannot describe.
#[get("/anything")]
async fn anything() -> impl IntoResponse {
    "anything"
}

fn main() {
    let _: trestle::routing::Routes = routes![upload, tenant, anything];
}
