//! The Cloudinary adapter against a loopback fake speaking Cloudinary's upload API.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use core_config::{CloudinarySettings, Secret};
use integrations::cloudinary::sign;
use integrations::CloudinaryMediaStore;
use services::ports::MediaStore;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn settings(base: &str) -> CloudinarySettings {
    CloudinarySettings {
        cloud_name: "demo-cloud".into(),
        api_key: "123456".into(),
        api_secret: Secret::new("s3cr3t"),
        api_base: base.into(),
        folder: "payment_screenshots".into(),
    }
}

fn form(req: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&req.body).into_owned().collect()
}

#[tokio::test]
async fn signed_upload_returns_the_secure_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1_1/demo-cloud/image/upload"))
        .and(body_string_contains("folder=payment_screenshots"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "asset_id": "a1", "public_id": "payment_screenshots/abc", "format": "png",
            "url": "http://res.cloudinary.com/demo-cloud/image/upload/v1/payment_screenshots/abc.png",
            "secure_url": "https://res.cloudinary.com/demo-cloud/image/upload/v1/payment_screenshots/abc.png"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let store = CloudinaryMediaStore::new(&settings(&server.uri())).unwrap();
    let sha = "ab".repeat(32);
    let stored = store.put(b"\x89PNG fake".to_vec(), "image/png", &sha).await.unwrap();
    assert_eq!(
        stored.url,
        "https://res.cloudinary.com/demo-cloud/image/upload/v1/payment_screenshots/abc.png"
    );

    // The request is signed the way Cloudinary checks it.
    let received = server.received_requests().await.unwrap();
    let f = form(&received[0]);
    assert_eq!(f["api_key"], "123456");
    assert!(f["file"].starts_with("data:image/png;base64,"));
    let expected = sign(
        &[("timestamp", &f["timestamp"]), ("folder", "payment_screenshots"), ("public_id", &f["public_id"])],
        "s3cr3t",
    );
    assert_eq!(f["signature"], expected);
    assert!(!f.contains_key("api_secret"), "the secret never travels");
}

#[tokio::test]
async fn refusals_become_errors_with_cloudinarys_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": {"message": "Invalid Signature 1a2b"}})),
        )
        .mount(&server)
        .await;
    let store = CloudinaryMediaStore::new(&settings(&server.uri())).unwrap();
    let err = store.put(b"x".to_vec(), "image/png", &"cd".repeat(32)).await.unwrap_err();
    assert!(err.to_string().contains("Invalid Signature"), "{err}");
}

#[test]
fn signature_matches_cloudinarys_documented_example() {
    // From Cloudinary's "Generating authentication signatures" guide.
    let sig = sign(
        &[
            ("eager", "w_400,h_300,c_pad|w_260,h_200,c_crop"),
            ("public_id", "sample_image"),
            ("timestamp", "1315060510"),
        ],
        "abcd",
    );
    assert_eq!(sig, "bfd09f95f331f558cbd1320e67aa8d488770583e");
}
