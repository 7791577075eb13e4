//! Outside channels' endpoints (webhooks the channel calls); served as plain routes, outside the
//! OpenAPI document, only when the channel is enabled.

pub mod whatsapp;
