//! The WhatsApp channel over Meta's Cloud API (SPEC §10.4): sends are `POST
//! {graph_url}/{api_version}/{phone_number_id}/messages` with the bearer token, `to` the phone
//! number when the address is one, else `recipient` the business-scoped user id; media is `GET
//! {graph_url}/{api_version}/{media_id}` then its `url` with the same token. Failures are
//! classified by Graph's `error.code`, not the HTTP status.

pub mod render;

use std::time::Duration;

use core_config::WhatsAppSettings;
use serde_json::{json, Value};
use services::ports::{MessageSender, Outgoing, PortError, SendError, SendFailure};

/// Largest media download accepted (WhatsApp images are at most 5 MB).
const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

/// Sends and fetches on WhatsApp.
#[derive(Clone)]
pub struct WhatsAppSender {
    http: reqwest::Client,
    base: String,
    phone_number_id: String,
    token: String,
    template: Option<(String, String)>,
}

impl std::fmt::Debug for WhatsAppSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppSender").field("base", &self.base).finish_non_exhaustive()
    }
}

impl WhatsAppSender {
    /// A sender for these settings.
    pub fn new(s: &WhatsAppSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(s.timeout_secs))
            .build()
            .map_err(|e| format!("building the WhatsApp client: {e}"))?;
        Ok(Self {
            http,
            base: format!("{}/{}", s.graph_url.trim_end_matches('/'), s.api_version),
            phone_number_id: s.phone_number_id.trim().to_string(),
            token: s.access_token.expose().to_string(),
            template: (!s.template_name.trim().is_empty())
                .then(|| (s.template_name.clone(), s.template_language.clone())),
        })
    }

    async fn post(&self, address: &str, body: Value) -> Result<Option<String>, SendError> {
        let mut body = body;
        body["messaging_product"] = json!("whatsapp");
        body["recipient_type"] = json!("individual");
        if address.bytes().all(|b| b.is_ascii_digit()) {
            body["to"] = json!(address);
        } else {
            body["recipient"] = json!(address);
        }
        let url = format!("{}/{}/messages", self.base, self.phone_number_id);
        let res =
            self.http.post(url).bearer_auth(&self.token).json(&body).send().await.map_err(|e| SendError {
                failure: SendFailure::Transient,
                code: None,
                message: format!("WhatsApp unreachable: {e}"),
            })?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or_default();
        if status.is_success() {
            return Ok(answer["messages"][0]["id"].as_str().map(str::to_string));
        }
        Err(classify(status.as_u16(), &answer))
    }
}

/// A Graph error as a [`SendError`]: by `error.code` first, then by HTTP status.
pub fn classify(status: u16, body: &Value) -> SendError {
    let code = body["error"]["code"].as_i64();
    let message = body["error"]["message"].as_str().unwrap_or("WhatsApp refused the message");
    let failure = match code {
        Some(131026) => SendFailure::Unreachable,
        Some(131047) => SendFailure::WindowClosed,
        Some(130429) | Some(131056) | Some(4) | Some(80007) => SendFailure::RateLimited,
        Some(1) | Some(2) | Some(131000) | Some(131016) => SendFailure::Transient,
        _ if status >= 500 || status == 429 => SendFailure::Transient,
        _ => SendFailure::Rejected,
    };
    SendError { failure, code, message: format!("HTTP {status}: {message} ({})", code.unwrap_or_default()) }
}

fn media_error(message: String) -> PortError {
    PortError { service: "whatsapp media", message, code: None }
}

#[async_trait::async_trait]
impl MessageSender for WhatsAppSender {
    fn channel(&self) -> &str {
        "whatsapp"
    }

    fn render(&self, reply: &models::conversation::Reply) -> Vec<Outgoing> {
        render::render(reply)
    }

    async fn send(&self, address: &str, message: &Outgoing) -> Result<Option<String>, SendError> {
        let body = match &message.wire {
            Some(wire) => wire.clone(),
            None => {
                json!({"type": "text", "text": {"body": render::clip(&message.text, render::TEXT_LIMIT)}})
            }
        };
        self.post(address, body).await
    }

    async fn send_template(&self, address: &str) -> Result<Option<String>, SendError> {
        let Some((name, language)) = &self.template else {
            return Err(SendError {
                failure: SendFailure::Rejected,
                code: None,
                message: "the 24-hour window is closed and no whatsapp.template_name is configured".into(),
            });
        };
        self.post(
            address,
            json!({"type": "template", "template": {"name": name, "language": {"code": language}}}),
        )
        .await
    }

    async fn upload_media(&self, bytes: Vec<u8>, content_type: &str) -> Result<String, SendError> {
        // multipart/form-data by hand: messaging_product, type and the file.
        let boundary = format!("steward-{}", hex::encode(rand::random::<[u8; 12]>()));
        let mut body = Vec::with_capacity(bytes.len() + 512);
        for (name, value) in [("messaging_product", "whatsapp"), ("type", content_type)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"proof\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!("{}/{}/media", self.base, self.phone_number_id);
        let res = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .map_err(|e| SendError {
                failure: SendFailure::Transient,
                code: None,
                message: format!("WhatsApp unreachable: {e}"),
            })?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or_default();
        match answer["id"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_string()),
            _ => Err(classify(status.as_u16(), &answer)),
        }
    }

    async fn fetch_media(&self, media_id: &str) -> Result<(Vec<u8>, String), PortError> {
        if media_id.is_empty() || !media_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(media_error("not a media id".into()));
        }
        let meta: Value = self
            .http
            .get(format!("{}/{media_id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| media_error(format!("media lookup failed: {e}")))?
            .json()
            .await
            .map_err(|e| media_error(format!("media lookup answer: {e}")))?;
        let url = meta["url"].as_str().ok_or_else(|| media_error("the media lookup has no url".into()))?;
        let mime = meta["mime_type"].as_str().unwrap_or("application/octet-stream").to_string();
        let res = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| media_error(format!("media download failed: {e}")))?;
        if res.content_length().is_some_and(|n| n as usize > MAX_MEDIA_BYTES) {
            return Err(media_error("the media is too large".into()));
        }
        let bytes = res.bytes().await.map_err(|e| media_error(format!("media download: {e}")))?;
        if bytes.len() > MAX_MEDIA_BYTES {
            return Err(media_error("the media is too large".into()));
        }
        Ok((bytes.to_vec(), mime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_graph_code() {
        let body = |code: i64| json!({"error": {"message": "x", "type": "OAuthException", "code": code}});
        assert_eq!(classify(400, &body(131026)).failure, SendFailure::Unreachable);
        assert_eq!(classify(400, &body(131047)).failure, SendFailure::WindowClosed);
        assert_eq!(classify(400, &body(130429)).failure, SendFailure::RateLimited);
        assert_eq!(classify(400, &body(131056)).failure, SendFailure::RateLimited);
        assert_eq!(classify(500, &json!({})).failure, SendFailure::Transient);
        assert_eq!(classify(400, &body(100)).failure, SendFailure::Rejected);
    }
}
