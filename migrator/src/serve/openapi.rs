//! The OpenAPI document's frame: title, security schemes and shared schemas. The paths
//! come from the handlers (`api::routes`).

use super::problem::Problem;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "seaway migrator serve",
        description = "Jobs (transfer, verify, apply, schema) over the connections of the server's seaway.yaml, their live progress, and the /test-connection and /migrate endpoints of a universal migration service. Every route but /health needs a bearer token (roles viewer, operator, admin) or the dashboard's session cookie with its CSRF token."
    ),
    modifiers(&Security),
    components(schemas(Problem))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document before the handlers' paths are added.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
