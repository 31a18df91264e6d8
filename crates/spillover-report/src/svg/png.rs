//! A minimal PNG writer for heatmaps embedded in SVG (an 8-bit palette image, zlib-compressed by
//! flate2, chunk CRCs by crc32fast) and base64 for data URIs. Dense attention maps (hundreds of
//! thousands of cells) stay small this way, where one `<rect>` per cell would not.

use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

/// Encodes a `width` × `height` image of palette indices (`pixels`, row-major) with `palette`
/// (RGB triples, at most 256).
pub fn encode_indexed(width: u32, height: u32, pixels: &[u8], palette: &[[u8; 3]]) -> Vec<u8> {
    assert_eq!(
        pixels.len(),
        (width as usize) * (height as usize),
        "pixel count"
    );
    assert!(!palette.is_empty() && palette.len() <= 256, "palette size");
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]); // 8-bit, indexed colour, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    let plte: Vec<u8> = palette.iter().flatten().copied().collect();
    chunk(&mut out, b"PLTE", &plte);
    let mut raw = Vec::with_capacity(pixels.len() + height as usize);
    for row in pixels.chunks(width.max(1) as usize) {
        raw.push(0); // filter type: none
        raw.extend_from_slice(row);
    }
    chunk(&mut out, b"IDAT", &zlib(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// `data` as a zlib stream (PNG's IDAT format), at the default compression level.
fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn base64_matches_its_definition() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }

    /// (kind, data) of every chunk, checking each length and CRC on the way.
    fn chunks(png: &[u8]) -> Vec<(String, Vec<u8>)> {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut i = 8;
        let mut out = Vec::new();
        while i < png.len() {
            let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            let body = &png[i + 4..i + 8 + len];
            let crc = u32::from_be_bytes(png[i + 8 + len..i + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(&body[..4]);
            h.update(&body[4..]);
            assert_eq!(crc, h.finalize(), "chunk CRC over type and data");
            out.push((
                String::from_utf8(body[..4].to_vec()).unwrap(),
                body[4..].to_vec(),
            ));
            i += 12 + len;
        }
        assert_eq!(i, png.len());
        out
    }

    #[test]
    fn png_chunks_are_well_formed_and_hold_the_pixels() {
        let palette = [[0, 0, 0], [128, 128, 128], [255, 255, 255]];
        let png = encode_indexed(3, 2, &[0, 1, 2, 2, 1, 0], &palette);
        let c = chunks(&png);
        let kinds: Vec<&str> = c.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["IHDR", "PLTE", "IDAT", "IEND"]);
        // 3 × 2, 8-bit, indexed colour, deflate, no filter, no interlace.
        assert_eq!(c[0].1, [0, 0, 0, 3, 0, 0, 0, 2, 8, 3, 0, 0, 0]);
        assert_eq!(c[1].1, [0, 0, 0, 128, 128, 128, 255, 255, 255]);
        // The image data inflates to the scanlines: filter byte 0, then the row's indices.
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&c[2].1[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, [0, 0, 1, 2, 0, 2, 1, 0]);
        assert!(c[3].1.is_empty());
    }

    #[test]
    fn a_large_flat_map_is_compressed() {
        let (w, h) = (600u32, 400u32);
        let pixels: Vec<u8> = (0..w * h).map(|i| ((i / w) % 7) as u8).collect();
        let png = encode_indexed(w, h, &pixels, &[[0, 0, 0]; 7]);
        assert!(png.len() < pixels.len() / 20, "{} bytes", png.len());
        let c = chunks(&png);
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&c[2].1[..])
            .read_to_end(&mut raw)
            .unwrap();
        let rows: Vec<&[u8]> = raw.chunks(w as usize + 1).collect();
        assert_eq!(rows.len(), h as usize);
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(row[0], 0, "filter byte");
            assert_eq!(&row[1..], &pixels[r * w as usize..(r + 1) * w as usize]);
        }
    }
}
