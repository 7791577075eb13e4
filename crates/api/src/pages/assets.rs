//! The embedded files and their content-hashed names.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// An embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name in `static/`.
    pub name: &'static str,
    /// The name it is served under: `chat.3f2a1b9c0d.js`.
    pub hashed: &'static str,
    /// Content type.
    pub content_type: &'static str,
    /// Content.
    pub bytes: &'static [u8],
}

/// Every embedded file.
#[derive(Debug)]
pub struct Assets {
    files: Vec<Asset>,
}

const FILES: &[(&str, &str, &[u8])] = &[
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../../static/dom.js")),
    ("replies.js", "text/javascript; charset=utf-8", include_bytes!("../../static/replies.js")),
    ("chat.js", "text/javascript; charset=utf-8", include_bytes!("../../static/chat.js")),
    ("chat.css", "text/css; charset=utf-8", include_bytes!("../../static/chat.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../static/favicon.svg")),
    ("admin.js", "text/javascript; charset=utf-8", include_bytes!("../../static/admin.js")),
    ("admin.css", "text/css; charset=utf-8", include_bytes!("../../static/admin.css")),
];

/// Pictures of the demo's places, served under stable names at `/pictures/{name}` (the demo's
/// catalogue stores those paths, so they must not change with the content).
const PICTURES: &[(&str, &[u8])] = &[
    ("farmhouse.svg", include_bytes!("../../static/pictures/farmhouse.svg")),
    ("pool.svg", include_bytes!("../../static/pictures/pool.svg")),
    ("hut.svg", include_bytes!("../../static/pictures/hut.svg")),
    ("beach.svg", include_bytes!("../../static/pictures/beach.svg")),
];

/// The demo picture named `name` (SVG).
pub fn picture(name: &str) -> Option<&'static [u8]> {
    PICTURES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

const PAGES: &[(&str, &str)] = &[
    ("chat.html", include_str!("../../static/chat.html")),
    ("signin.html", include_str!("../../static/signin.html")),
    ("admin.html", include_str!("../../static/admin.html")),
];

fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let digest = hex_prefix(&Sha256::digest(bytes));
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
        None => format!("{name}.{digest}"),
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

impl Assets {
    /// The assets, hashed once.
    pub fn get() -> &'static Assets {
        static ASSETS: OnceLock<Assets> = OnceLock::new();
        ASSETS.get_or_init(|| Assets {
            files: FILES
                .iter()
                .map(|(name, content_type, bytes)| Asset {
                    name,
                    hashed: Box::leak(hashed_name(name, bytes).into_boxed_str()),
                    content_type,
                    bytes,
                })
                .collect(),
        })
    }

    /// The file served as `hashed`.
    pub fn by_hashed_name(&self, hashed: &str) -> Option<Asset> {
        self.files.iter().find(|a| a.hashed == hashed).copied()
    }

    /// The file named `name` in `static/`.
    pub fn by_name(&self, name: &str) -> Option<Asset> {
        self.files.iter().find(|a| a.name == name).copied()
    }

    /// A page with every `{{file}}` replaced by the file's hashed URL.
    pub fn page(&self, page: &str) -> String {
        let mut html = PAGES.iter().find(|(n, _)| *n == page).map(|(_, h)| h.to_string()).unwrap_or_default();
        for a in &self.files {
            html = html.replace(&format!("{{{{{}}}}}", a.name), &format!("/assets/{}", a.hashed));
        }
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_their_assets_by_content_hash() {
        let html = Assets::get().page("chat.html");
        assert!(!html.contains("{{"), "every placeholder replaced");
        let js = Assets::get().files.iter().find(|a| a.name == "chat.js").map(|a| a.hashed).unwrap_or("");
        assert!(
            js.starts_with("chat.") && js.ends_with(".js") && js.len() == "chat.0123456789.js".len(),
            "{js}"
        );
        assert!(html.contains(&format!("/assets/{js}")));
        assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    }
}
