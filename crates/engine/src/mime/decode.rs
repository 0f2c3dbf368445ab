//! Body decoding: base64 and quoted-printable, whole or line by line,
//! with ClamAV's tolerance for junk.

use super::*;

/// The body of `e` in `raw`, decoded with `enc` (one of
/// `e.encodings`), as ClamAV writes a decoded part out: a part of a
/// multipart loses the empty lines its body starts with. `whole`: `e`
/// is the message's top-level entity.
pub fn decode_body(
    raw: &[u8],
    e: &Entity,
    enc: Encoding,
    whole: bool,
) -> Vec<u8> {
    let mut body = &raw[e.body_start..e.end];
    if !whole {
        loop {
            let (cend, next, _) = line_at(body, 0, body.len());
            if cend != 0 || next == 0 {
                break;
            }
            body = &body[next..];
        }
    }
    decode(body, enc, whole)
}

/// Decodes a body with one encoding, the way ClamAV writes decoded parts
/// out: base64 leniently, anything else line by line, CRs dropped and
/// every line ending in LF. `whole`: the body runs to the end of its
/// message.
pub fn decode(body: &[u8], e: Encoding, whole: bool) -> Vec<u8> {
    match e {
        Encoding::Base64 => base64_decode(body),
        Encoding::QuotedPrintable => line_decode(body, true, whole),
        Encoding::Plain => line_decode(body, false, whole),
    }
}

/// Decodes a line-oriented body the way ClamAV's mail parser writes it
/// out: every line (CR stripped) ends in LF, including a last line that
/// had none; a quoted-printable line ending in `=` continues the next.
/// Matching ClamAV byte for byte here is what keeps hash signatures and
/// `EOF-n` offsets on text parts giving the same verdicts.
///
/// `whole` is a body that runs to the end of its message; a multipart
/// part's body has already lost the line break before its delimiter.
pub(crate) fn line_decode(raw: &[u8], qp: bool, whole: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    let raw = if whole { raw.strip_suffix(b"\n").unwrap_or(raw) } else { raw };
    if raw.is_empty() {
        return out;
    }
    // Lines and `=` found by memchr, and copied in runs: a big text part
    // costs little more than its copy.
    let mut start = 0;
    let ends =
        memchr::memchr_iter(b'\n', raw).chain(std::iter::once(raw.len()));
    for end in ends {
        let line = &raw[start..end];
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !qp {
            out.extend_from_slice(line);
            out.push(b'\n');
            continue;
        }
        let mut i = 0;
        let mut soft = false;
        while let Some(k) = memchr::memchr(b'=', &line[i..]) {
            out.extend_from_slice(&line[i..i + k]);
            i += k;
            if i + 1 == line.len() {
                soft = true;
                break;
            }
            let hexv = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                line.get(i + 1).and_then(|b| hexv(*b)),
                line.get(i + 2).and_then(|b| hexv(*b)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
            } else {
                out.push(b'=');
                i += 1;
            }
        }
        if !soft {
            out.extend_from_slice(&line[i..]);
            out.push(b'\n');
        }
    }
    out
}

/// Decodes base64 leniently, as mail readers and ClamAV do: bytes outside
/// the alphabet (line breaks, stray spaces, `=`) are skipped, and a final
/// partial group yields the bytes it holds.
pub(crate) fn base64_decode(input: &[u8]) -> Vec<u8> {
    base64_decode_plain(input).0
}

/// [`base64_decode`], and whether the input held nothing but the
/// alphabet, line ends and `=` (then it holds no text line such as a
/// header or a uuencoded block: those need a space or a dash). Told
/// by the decoder's slow path, so it costs nothing more.
pub(crate) fn base64_decode_plain(input: &[u8]) -> (Vec<u8>, bool) {
    const INVALID: u8 = 0xff;
    let mut plain = true;
    static LUT: [u8; 256] = {
        let mut t = [INVALID; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut n = 0;
    let mut i = 0;
    // Where a block of 32 is tried next (`base64x`): past the last byte
    // that stopped one.
    let mut block_at = 0;
    while i < input.len() {
        if n == 0 && i >= block_at {
            match base64x::decode32(&input[i..], &mut out) {
                Ok(()) => {
                    i += 32;
                    continue;
                }
                Err(skip) => block_at = i.saturating_add(skip),
            }
        }
        // The common case: four alphabet bytes in a row, group aligned.
        if n == 0
            && let Some(q) = input.get(i..i + 4)
        {
            let v = [
                LUT[q[0] as usize],
                LUT[q[1] as usize],
                LUT[q[2] as usize],
                LUT[q[3] as usize],
            ];
            if v.iter().all(|&x| x != INVALID) {
                let w = (v[0] as u32) << 18
                    | (v[1] as u32) << 12
                    | (v[2] as u32) << 6
                    | v[3] as u32;
                out.extend_from_slice(&[
                    (w >> 16) as u8,
                    (w >> 8) as u8,
                    w as u8,
                ]);
                i += 4;
                continue;
            }
        }
        let v = LUT[input[i] as usize];
        i += 1;
        if v == INVALID {
            plain &= matches!(input[i - 1], b'\r' | b'\n' | b'=');
            continue;
        }
        acc = acc << 6 | v as u32;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[
                (acc >> 16) as u8,
                (acc >> 8) as u8,
                acc as u8,
            ]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    (out, plain)
}

/// Whether base64 holds what a strict decoder stops at: characters
/// outside the alphabet other than white space and `=`, or an empty line
/// with data after it. A pass of its own, run only when the repair alert
/// is wanted, so that decoding keeps its speed.
pub(crate) fn base64_junk(input: &[u8]) -> bool {
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    if input.iter().any(|&c| {
        !alphabet(c) && !matches!(c, b'\r' | b'\n' | b' ' | b'\t' | b'=')
    }) {
        return true;
    }
    // Trailing empty lines (before a delimiter) are not inside.
    let data_end = input.iter().rposition(|&c| alphabet(c)).unwrap_or(0);
    let inner = &input[..data_end];
    memchr::memchr_iter(b'\n', inner).any(|i| {
        let rest = &inner[i + 1..];
        rest.starts_with(b"\n") || rest.starts_with(b"\r\n")
    })
}

/// Base64 as RFC 2045 writes it, padded; with `eol`, in lines of 76
/// characters joined by it (no final line break). The one encoder of the
/// suite: cleaned mail parts, notices, HTTP credentials.
pub fn base64_encode(data: &[u8], eol: Option<&str>) -> String {
    const B64: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out =
        String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 4);
    // 57 bytes make one 76-character line.
    let line = if eol.is_some() { 57 } else { data.len().max(1) };
    for (i, chunk) in data.chunks(line).enumerate() {
        if i > 0
            && let Some(eol) = eol
        {
            out.push_str(eol);
        }
        for g in chunk.chunks(3) {
            let n = (u32::from(g[0]) << 16)
                | (u32::from(*g.get(1).unwrap_or(&0)) << 8)
                | u32::from(*g.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= g.len() {
                    out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    #[test]
    fn base64_is_encoded_padded_and_wrapped() {
        assert_eq!(base64_encode(b"", None), "");
        assert_eq!(base64_encode(b"Man", None), "TWFu");
        assert_eq!(base64_encode(b"Ma", Some("\n")), "TWE=");
        assert_eq!(base64_encode(b"M", None), "TQ==");
        assert_eq!(
            base64_encode(b"Aladdin:open sesame", None),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let wrapped = base64_encode(&data, Some("\r\n"));
        assert!(wrapped.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(wrapped.split("\r\n").count(), 1000usize.div_ceil(57));
        assert_eq!(base64_decode(wrapped.as_bytes()), data);
        assert_eq!(base64_encode(&data, None).len(), 1336);
    }

    /// The runs copied between line ends and `=` give what a byte at a
    /// time did (the decoder before memchr), on text with CR, LF, `=`,
    /// hex digits and soft breaks anywhere.
    #[test]
    fn line_decoding_by_runs_is_decoding_byte_by_byte() {
        fn by_byte(raw: &[u8], qp: bool, whole: bool) -> Vec<u8> {
            let mut out = Vec::new();
            let raw = if whole {
                raw.strip_suffix(b"\n").unwrap_or(raw)
            } else {
                raw
            };
            if raw.is_empty() {
                return out;
            }
            for line in raw.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let mut i = 0;
                let mut soft = false;
                while i < line.len() {
                    let c = line[i];
                    if qp && c == b'=' {
                        if i + 1 == line.len() {
                            soft = true;
                            break;
                        }
                        let hexv = |b: u8| (b as char).to_digit(16);
                        if let (Some(h), Some(l)) = (
                            line.get(i + 1).and_then(|b| hexv(*b)),
                            line.get(i + 2).and_then(|b| hexv(*b)),
                        ) {
                            out.push((h * 16 + l) as u8);
                            i += 3;
                            continue;
                        }
                    }
                    out.push(c);
                    i += 1;
                }
                if !soft {
                    out.push(b'\n');
                }
            }
            out
        }
        let mut s = 0x1234_5679_u32;
        let mut rnd = |m: u32| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s % m
        };
        for round in 0..2000 {
            let raw: Vec<u8> = (0..rnd(60))
                .map(|_| b"=\r\nA3f0 \xe9G="[rnd(11) as usize])
                .collect();
            for (qp, whole) in
                [(false, false), (false, true), (true, false), (true, true)]
            {
                assert_eq!(
                    line_decode(&raw, qp, whole),
                    by_byte(&raw, qp, whole),
                    "round {round}: {:?} qp {qp} whole {whole}",
                    String::from_utf8_lossy(&raw)
                );
            }
        }
    }

    /// Whatever the blocks of 32 take, the result is a byte-by-byte
    /// decoder's: alphabet characters gathered four at a time, anything
    /// else skipped, on wrapped text with damage anywhere.
    #[test]
    fn block_decoding_changes_nothing_on_damaged_text() {
        fn by_byte(input: &[u8]) -> (Vec<u8>, bool) {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let (mut out, mut acc, mut n, mut plain) =
                (Vec::new(), 0u32, 0, true);
            for &c in input {
                let Some(v) = A.iter().position(|&a| a == c) else {
                    plain &= matches!(c, b'\r' | b'\n' | b'=');
                    continue;
                };
                acc = acc << 6 | v as u32;
                n += 1;
                if n == 4 {
                    out.extend_from_slice(&[
                        (acc >> 16) as u8,
                        (acc >> 8) as u8,
                        acc as u8,
                    ]);
                    (acc, n) = (0, 0);
                }
            }
            match n {
                2 => out.push((acc >> 4) as u8),
                3 => out
                    .extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                _ => {}
            }
            (out, plain)
        }
        let mut s = 0x2545_f491_u32;
        let mut rnd = |m: u32| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s % m
        };
        for round in 0..300 {
            let data: Vec<u8> =
                (0..rnd(3000)).map(|_| rnd(256) as u8).collect();
            let eol = ["\r\n", "\n"][round % 2];
            let mut text = base64_encode(&data, Some(eol)).into_bytes();
            for _ in 0..rnd(6) {
                if !text.is_empty() {
                    let at = rnd(text.len() as u32) as usize;
                    text[at] = b" =-\r\n\x00\xffA."[rnd(9) as usize];
                }
            }
            assert_eq!(
                base64_decode_plain(&text),
                by_byte(&text),
                "round {round}"
            );
        }
    }
}
