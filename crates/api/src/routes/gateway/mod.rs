//! The AI spend gateway's HTTP surface (SPEC §4): projects, agents, budgets and policies
//! ([`projects`]); requests, payments, reviews, alerts and the report ([`requests`]); the model
//! catalogue ([`catalogue`]); the OpenAI-compatible `/v1` API ([`openai`]); and the help chatbot
//! ([`chatbot`]).

pub mod catalogue;
pub mod chatbot;
pub mod openai;
pub mod projects;
pub mod requests;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the OpenAI-compatible `/v1` routes, the busiest: `routes::configure` registers them
/// first, because actix tries resources in registration order (no other route starts with `/v1/`).
pub fn configure_v1(cfg: &mut ServiceConfig<'_>) {
    cfg.service(openai::chat_completions)
        .service(openai::embeddings)
        .service(openai::models)
        .service(openai::text_completion)
        .service(openai::vision_analyze)
        .service(openai::images_generate)
        .service(openai::audio_speech);
}

/// Registers the gateway's other routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(projects::list_projects)
        .service(projects::create_project)
        .service(projects::get_project)
        .service(projects::update_project)
        .service(projects::list_agents)
        .service(projects::create_agent)
        .service(projects::get_budget)
        .service(projects::set_budget)
        .service(projects::get_policy)
        .service(projects::set_policy)
        .service(projects::validate_policy)
        .service(projects::get_system_policy)
        .service(projects::set_system_policy)
        .service(projects::budget_status)
        .service(requests::execute)
        .service(requests::list_requests)
        .service(requests::get_request)
        .service(requests::list_payments)
        .service(requests::get_payment)
        .service(requests::list_reviews)
        .service(requests::approve_review)
        .service(requests::reject_review)
        .service(requests::list_alerts)
        .service(requests::set_webhook)
        .service(requests::get_webhook)
        .service(requests::remove_webhook)
        .service(requests::report)
        .service(catalogue::list_providers)
        .service(catalogue::update_provider)
        .service(catalogue::list_models)
        .service(catalogue::get_model)
        .service(catalogue::put_model)
        .service(chatbot::chat);
}
