//! Media on local disk: files named by 128 random bits under `media.local_dir`, served by the
//! gateway at `/media/{name}`.

use std::path::PathBuf;

use rand::RngCore;
use services::ports::{MediaStore, PortError, StoredMedia};

/// URL prefix of locally stored media.
pub const URL_PREFIX: &str = "/media/";

/// The local-disk store.
#[derive(Clone, Debug)]
pub struct LocalMediaStore {
    dir: PathBuf,
}

impl LocalMediaStore {
    /// A store under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file behind a served name, if the name is one this store makes.
    pub fn path_of(dir: &std::path::Path, name: &str) -> Option<(PathBuf, &'static str)> {
        let (stem, ext) = name.split_once('.')?;
        let content_type = match ext {
            "png" => "image/png",
            "jpg" => "image/jpeg",
            "webp" => "image/webp",
            _ => return None,
        };
        (stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| (dir.join(name), content_type))
    }
}

impl LocalMediaStore {
    /// Reads a stored file by its served name: `None` when the name is not one this store makes
    /// or no such file exists.
    pub async fn read(dir: &std::path::Path, name: &str) -> Option<(Vec<u8>, &'static str)> {
        let (path, content_type) = Self::path_of(dir, name)?;
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path)).await.ok()?.ok()?;
        Some((bytes, content_type))
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "webp",
    }
}

#[async_trait::async_trait]
impl MediaStore for LocalMediaStore {
    async fn put(&self, bytes: Vec<u8>, content_type: &str, _sha256: &str) -> Result<StoredMedia, PortError> {
        let mut id = [0_u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let name = format!("{}.{}", hex::encode(id), extension(content_type));
        let dir = self.dir.clone();
        let path = dir.join(&name);
        let err = |e: std::io::Error| PortError {
            service: "local media store",
            message: e.to_string(),
            code: None,
        };
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, bytes)
        })
        .await
        .map_err(|e| PortError { service: "local media store", message: e.to_string(), code: None })?
        .map_err(err)?;
        Ok(StoredMedia { url: format!("{URL_PREFIX}{name}") })
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, String), PortError> {
        let name = url.strip_prefix(URL_PREFIX).unwrap_or(url);
        Self::read(&self.dir, name).await.map(|(b, t)| (b, t.to_string())).ok_or_else(|| PortError {
            service: "local media store",
            message: format!("no stored media {name}"),
            code: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_under_unguessable_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalMediaStore::new(dir.path());
        let a = store.put(b"one".to_vec(), "image/png", "x").await.unwrap();
        let b = store.put(b"one".to_vec(), "image/png", "x").await.unwrap();
        assert_ne!(a.url, b.url);
        let name = a.url.strip_prefix(URL_PREFIX).unwrap();
        let (path, ct) = LocalMediaStore::path_of(dir.path(), name).unwrap();
        assert_eq!(ct, "image/png");
        assert_eq!(std::fs::read(path).unwrap(), b"one");
        assert!(LocalMediaStore::path_of(dir.path(), "../../etc/passwd.png").is_none());
        assert!(LocalMediaStore::path_of(dir.path(), "abc.png").is_none());
    }
}
