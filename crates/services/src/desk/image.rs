//! Payment screenshots are parsed, not sniffed: [`ImageInfo::parse`] reads a PNG, JPEG or WebP
//! container far enough to know its type and dimensions, and refuses what does not hold together
//! (a PNG signature followed by garbage, a truncated chunk, a JPEG without a frame header).
//! Pixel data is left to whoever displays the image.

/// Largest side accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// What a screenshot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// The CRC-32 (IEEE) PNG chunks carry.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
    }
    !crc
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 3).map(|s| u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// PNG: IHDR first with a valid header, every chunk complete with a matching CRC, at least one
/// IDAT, and IEND last.
fn png(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = PNG_SIGNATURE.len();
    let mut size = None;
    let mut has_data = false;
    loop {
        let len = usize::try_from(be32(b, at)?).ok()?;
        let kind = b.get(at + 4..at + 8)?;
        let data = b.get(at + 8..at.checked_add(8)?.checked_add(len)?)?;
        let crc = be32(b, at + 8 + len)?;
        if crc32(&[kind, data]) != crc {
            return None;
        }
        match kind {
            b"IHDR" => {
                if size.is_some() || at != PNG_SIGNATURE.len() || len != 13 {
                    return None;
                }
                let (w, h) = (be32(data, 0)?, be32(data, 4)?);
                let (depth, color) = (data[8], data[9]);
                let depth_ok = match color {
                    0 => [1, 2, 4, 8, 16].contains(&depth),
                    3 => [1, 2, 4, 8].contains(&depth),
                    2 | 4 | 6 => [8, 16].contains(&depth),
                    _ => false,
                };
                if !depth_ok || data[10] != 0 || data[11] != 0 || data[12] > 1 {
                    return None;
                }
                size = Some((w, h));
            }
            _ if size.is_none() => return None,
            b"IDAT" => has_data = true,
            b"IEND" => return (has_data && at + 12 == b.len()).then_some(size).flatten(),
            _ => {}
        }
        at += 12 + len;
    }
}

/// JPEG: SOI, then marker segments up to a frame header (SOFn) that gives the size, a scan, and
/// EOI at the end.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(&[0xFF, 0xD8]) || !b.ends_with(&[0xFF, 0xD9]) {
        return None;
    }
    let mut at = 2;
    let mut size = None;
    loop {
        if *b.get(at)? != 0xFF {
            return None;
        }
        let mut marker = *b.get(at + 1)?;
        while marker == 0xFF {
            at += 1;
            marker = *b.get(at + 1)?;
        }
        match marker {
            0xD9 => return None,
            0x01 | 0xD0..=0xD7 => {
                at += 2;
                continue;
            }
            _ => {}
        }
        let len = usize::from(be16(b, at + 2)?);
        if len < 2 || b.len() < at + 2 + len {
            return None;
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let (h, w) = (be16(b, at + 5)?, be16(b, at + 7)?);
            size = Some((u32::from(w), u32::from(h)));
        }
        if marker == 0xDA {
            // Start of scan: entropy-coded data follows, to the EOI checked above.
            return size;
        }
        at += 2 + len;
    }
}

/// WebP: a RIFF container of the stated size whose first chunk is VP8, VP8L or VP8X.
fn webp(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    let riff = usize::try_from(le32(b, 4)?).ok()?;
    if riff.checked_add(8)? != b.len() {
        return None;
    }
    let chunk = b.get(12..16)?;
    let len = usize::try_from(le32(b, 16)?).ok()?;
    let data = b.get(20..20usize.checked_add(len)?)?;
    match chunk {
        b"VP8 " => {
            if data.get(3..6)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((u32::from(le16(data, 6)? & 0x3FFF), u32::from(le16(data, 8)? & 0x3FFF)))
        }
        b"VP8L" => {
            if *data.first()? != 0x2F {
                return None;
            }
            let bits = le32(data, 1)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(data, 4)? + 1, le24(data, 7)? + 1)),
        _ => None,
    }
}

impl ImageInfo {
    /// Reads the type and dimensions; `None` when the bytes are not a well-formed PNG, JPEG or
    /// WebP of 1 to [`MAX_SIDE`] pixels a side.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let (mime, size) = if bytes.starts_with(&PNG_SIGNATURE) {
            ("image/png", png(bytes))
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            ("image/jpeg", jpeg(bytes))
        } else if bytes.starts_with(b"RIFF") {
            ("image/webp", webp(bytes))
        } else {
            return None;
        };
        let (width, height) = size?;
        let side = 1..=MAX_SIDE;
        (side.contains(&width) && side.contains(&height)).then_some(Self { mime, width, height })
    }
}

/// A well-formed PNG of `width` × `height` whose pixel data is `payload` (not compressed: the
/// parser does not read pixels). For tests and demo data.
pub fn png_bytes(width: u32, height: u32, payload: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    }
    let mut out = PNG_SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", payload);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_is_read_and_garbage_is_refused() {
        let good = png_bytes(640, 480, b"pixels");
        assert_eq!(ImageInfo::parse(&good), Some(ImageInfo { mime: "image/png", width: 640, height: 480 }));
        let mut garbage = PNG_SIGNATURE.to_vec();
        garbage.extend_from_slice(b"this is not a png at all, just text after the signature");
        assert_eq!(ImageInfo::parse(&garbage), None);
        let mut bad_crc = good.clone();
        bad_crc[20] ^= 1;
        assert_eq!(ImageInfo::parse(&bad_crc), None);
        assert_eq!(ImageInfo::parse(&good[..good.len() - 3]), None, "truncated");
        assert_eq!(ImageInfo::parse(&png_bytes(0, 10, b"x")), None, "zero width");
        // The known CRC of the empty IEND chunk.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }

    #[test]
    fn jpeg_and_webp_headers() {
        // SOI, SOF0 (8-bit, 30 high × 20 wide, 1 component), SOS, data, EOI.
        let mut jpg =
            vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x1E, 0x00, 0x14, 0x01, 0x01, 0x11, 0x00];
        jpg.extend_from_slice(&[
            0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x12, 0x34, 0xFF, 0xD9,
        ]);
        assert_eq!(ImageInfo::parse(&jpg), Some(ImageInfo { mime: "image/jpeg", width: 20, height: 30 }));
        assert_eq!(ImageInfo::parse(&[0xFF, 0xD8, 0xFF, 0x00, 0x01, 0xFF, 0xD9]), None);
        // RIFF/WEBP with a VP8L chunk of 5 bytes: 2 × 3 pixels.
        let bits: u32 = (2 - 1) | ((3 - 1) << 14);
        let mut data = vec![0x2F];
        data.extend_from_slice(&bits.to_le_bytes());
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(4 + 8 + data.len() as u32).to_le_bytes());
        webp.extend_from_slice(b"WEBPVP8L");
        webp.extend_from_slice(&(data.len() as u32).to_le_bytes());
        webp.extend_from_slice(&data);
        assert_eq!(ImageInfo::parse(&webp), Some(ImageInfo { mime: "image/webp", width: 2, height: 3 }));
        webp.push(0);
        assert_eq!(ImageInfo::parse(&webp), None, "RIFF size mismatch");
    }
}
