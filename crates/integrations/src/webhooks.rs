//! Delivers signed webhook messages over HTTP (the signing is done by `services::gateway::alerts`).

use std::time::Duration;

use services::ports::{PortError, WebhookMessage, WebhookSender};

/// POSTs webhook messages with reqwest; a non-2xx answer is a failure (retried by the job).
#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
}

impl HttpWebhookSender {
    /// A sender whose receivers get `timeout` to answer.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, message: &WebhookMessage) -> Result<(), PortError> {
        let fail = |message: String| PortError { service: "webhook", message, code: None };
        let mut req = self.client.post(&message.url).body(message.body.clone());
        for (k, v) in &message.headers {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| fail(e.to_string()))?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(fail(format!("receiver answered {}", res.status())))
        }
    }
}
