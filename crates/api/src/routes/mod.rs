//! Route registration, shared by the binary and the tests through [`configure`].

pub mod audit;
pub mod keys;
pub mod system;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every route; each handler carries its OpenAPI description.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(system::healthz)
        .service(system::readyz)
        .service(system::metrics)
        .service(system::openapi_json)
        .service(keys::list_keys)
        .service(keys::create_key)
        .service(keys::revoke_key)
        .service(users::me)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(audit::list_events)
        .service(audit::verify_chain);
}
