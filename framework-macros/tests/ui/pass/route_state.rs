//! Handlers whose extractors need the app's own state name it with `state = …`; handlers taking
//! only trestle's extractors (`Db`, `Auth`, `State<…>` parts) need nothing; `Valid<…>` is
//! checked through to the extractor it wraps.
use trestle::axum::extract::FromRequestParts;
use trestle::axum::http::request::Parts;
use trestle::prelude::*;

#[derive(Clone, FromRef)]
struct AppState {
    db: Db,
    jwt: trestle::auth::Jwt,
    tenant: Arc<String>,
}

/// An extractor implemented for this app's state only.
struct Tenant(String);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = trestle::Error;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Tenant(state.tenant.to_string()))
    }
}

/// It reads nothing the OpenAPI document shows.
impl trestle::openapi::DescribeInput for Tenant {}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Slug {
    #[garde(length(min = 1))]
    slug: String,
}

/// Needs `state = AppState` to be checked against the state its extractor knows.
#[get("/tenant", state = AppState)]
async fn tenant(Tenant(name): Tenant, _db: Db) -> String {
    name
}

/// Only trestle's extractors: checked without naming the state.
#[get("/articles/{slug}")]
async fn article(_auth: Option<Auth>, _db: Db, State(tenant): State<Arc<String>>, Valid(Path(slug)): Valid<Path<Slug>>) -> String {
    format!("{tenant}/{}", slug.slug)
}

fn main() {
    let _ = trestle::App::new().state(|ctx| AppState { db: ctx.db(), jwt: ctx.jwt(), tenant: Arc::new("t".into()) }).routes(routes![tenant, article]);
}
