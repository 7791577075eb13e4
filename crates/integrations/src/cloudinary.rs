//! Cloudinary's signed upload API: `POST {api_base}/v1_1/{cloud}/image/upload` with the file as a
//! data URI, `api_key`, `timestamp`, `folder` and `signature` = SHA-1 of the sorted signed
//! parameters followed by the API secret.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use core_config::CloudinarySettings;
use serde::Deserialize;
use services::ports::{MediaStore, PortError, StoredMedia};
use sha1::{Digest, Sha1};

/// The Cloudinary store.
#[derive(Clone)]
pub struct CloudinaryMediaStore {
    client: reqwest::Client,
    settings: CloudinarySettings,
}

impl std::fmt::Debug for CloudinaryMediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudinaryMediaStore")
            .field("cloud_name", &self.settings.cloud_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct UploadResponse {
    secure_url: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
}

/// The signature of a set of parameters (sorted by name, joined with `&`, secret appended).
pub fn sign(params: &[(&str, &str)], secret: &str) -> String {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let joined = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    hex::encode(Sha1::digest(format!("{joined}{secret}").as_bytes()))
}

impl CloudinaryMediaStore {
    /// A store for these credentials.
    pub fn new(settings: &CloudinarySettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, settings: settings.clone() })
    }
}

fn port_error(message: impl Into<String>) -> PortError {
    PortError { service: "cloudinary", message: message.into(), code: None }
}

#[async_trait::async_trait]
impl MediaStore for CloudinaryMediaStore {
    async fn put(&self, bytes: Vec<u8>, content_type: &str, sha256: &str) -> Result<StoredMedia, PortError> {
        let s = &self.settings;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let public_id = &sha256[..sha256.len().min(32)];
        let signature = sign(
            &[("folder", &s.folder), ("public_id", public_id), ("timestamp", &timestamp)],
            s.api_secret.expose(),
        );
        let file = format!("data:{content_type};base64,{}", STANDARD.encode(&bytes));
        let url = format!("{}/v1_1/{}/image/upload", s.api_base.trim_end_matches('/'), s.cloud_name);
        let form = [
            ("file", file.as_str()),
            ("api_key", s.api_key.as_str()),
            ("timestamp", timestamp.as_str()),
            ("folder", s.folder.as_str()),
            ("public_id", public_id),
            ("signature", signature.as_str()),
        ];
        let res = self.client.post(&url).form(&form).send().await.map_err(|e| port_error(e.to_string()))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| port_error(e.to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| e.error.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(port_error(format!("upload refused ({status}): {message}")));
        }
        let parsed: UploadResponse =
            serde_json::from_slice(&body).map_err(|e| port_error(format!("bad response: {e}")))?;
        let url = parsed.secure_url.or(parsed.url).ok_or_else(|| port_error("response has no url"))?;
        Ok(StoredMedia { url })
    }
}
