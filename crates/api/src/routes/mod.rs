//! Route registration, shared by the binary and the tests through [`configure`].

pub mod audit;
pub mod bookings;
pub mod catalogue;
pub mod channels;
pub mod chat;
pub mod conversations;
pub mod desk_admin;
pub mod gateway;
pub mod keys;
pub mod system;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every route; each handler carries its OpenAPI description.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    gateway::configure_v1(cfg);
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
        .service(users::deposit)
        .service(users::ledger)
        .service(audit::list_events)
        .service(audit::verify_chain)
        .service(catalogue::list_properties)
        .service(catalogue::create_property)
        .service(catalogue::get_property)
        .service(catalogue::update_property)
        .service(catalogue::deactivate_property)
        .service(catalogue::set_prices)
        .service(catalogue::add_media)
        .service(catalogue::delete_media)
        .service(catalogue::set_amenities)
        .service(catalogue::availability)
        .service(catalogue::search)
        .service(catalogue::quote)
        .service(bookings::create_booking)
        .service(bookings::list_bookings)
        .service(bookings::get_booking)
        .service(bookings::booking_history)
        .service(bookings::cancel_booking)
        .service(bookings::set_status)
        .service(bookings::payment_instructions)
        .service(bookings::submit_payment)
        .service(chat::create_session)
        .service(chat::get_session)
        .service(chat::reset_session)
        .service(chat::history)
        .service(chat::send_message)
        .service(chat::send_image)
        .service(conversations::list)
        .service(conversations::get)
        .service(conversations::takeover)
        .service(conversations::release)
        .service(conversations::message)
        .service(conversations::command)
        .service(desk_admin::verifications)
        .service(desk_admin::approve)
        .service(desk_admin::reject)
        .service(desk_admin::notifications)
        .service(desk_admin::list_jobs)
        .service(channels::whatsapp::channel)
        .service(desk_admin::media);
    gateway::configure(cfg);
}
