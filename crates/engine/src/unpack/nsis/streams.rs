//! The three compressors of NSIS as readers, each telling how much of
//! its input ClamAV's decoder would have taken by now.

use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};
use lzma_rust2::LzmaReader;

use super::bzip2::Bunzip;

/// How NSIS compressed the data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Method {
    Bzip2,
    Lzma,
    Zlib,
}

impl Method {
    /// ClamAV's guess from the first four bytes of compressed data:
    /// NSIS's bzip2 opens with its block byte `'1'`, LZMA with the
    /// properties byte 0x5D and a dictionary of less than 16 MiB that
    /// is a multiple of 16 MiB / 2 (NSIS's default 8 MiB); anything
    /// else is taken for deflate.
    pub(super) fn guess(b: [u8; 4]) -> Method {
        if b[0] == b'1' {
            Method::Bzip2
        } else if u32::from_le_bytes(b) & 0x7fff_ffff == 0x5d {
            Method::Lzma
        } else {
            Method::Zlib
        }
    }
}

/// Output NSIS's inflater holds beyond what was asked of it: it decodes
/// into a 32 KiB ring and stops only when the ring is full (one byte
/// short of it), taking input as it goes.
pub(super) const ZLIB_AHEAD: usize = 0x7fff;

/// One compressed stream.
pub(super) enum Decoder<'a> {
    Zlib(Inflate<'a>),
    Bzip2(Bunzip<'a>),
    Lzma(Option<Box<LzmaReader<&'a [u8]>>>),
}

impl<'a> Decoder<'a> {
    /// A decoder of `input`; `ahead` is how far deflate decodes past
    /// what was read (for the check of [`Decoder::exhausted`]).
    pub(super) fn new(m: Method, input: &'a [u8], ahead: usize) -> Self {
        match m {
            Method::Zlib => Decoder::Zlib(Inflate::new(input, ahead)),
            Method::Bzip2 => Decoder::Bzip2(Bunzip::new(input)),
            // Five bytes of properties and dictionary size, and no
            // uncompressed size: the stream ends at its end marker or
            // where the input does.
            Method::Lzma => Decoder::Lzma(
                input.split_first_chunk::<5>().and_then(|(p, rest)| {
                    let dict = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
                    let mut r = LzmaReader::new_with_props(
                        rest,
                        u64::MAX,
                        p[0],
                        dict,
                        None,
                    )
                    .ok()?;
                    r.set_defer_errors(true);
                    Some(Box::new(r))
                }),
            ),
        }
    }

    /// ClamAV's test before each member of a solid archive: at most
    /// four bytes (the CRC) of input left for its decoder. Its LZMA
    /// decoder's appetite is not modelled: that stream is read on until
    /// it ends.
    pub(super) fn exhausted(&self) -> bool {
        match self {
            Decoder::Zlib(z) => z.exhausted(),
            Decoder::Bzip2(b) => b.input_left() <= 4,
            Decoder::Lzma(_) => false,
        }
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Zlib(z) => z.read(out),
            Decoder::Bzip2(b) => b.read(out),
            Decoder::Lzma(Some(l)) => l.read(out),
            Decoder::Lzma(None) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad LZMA properties",
            )),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Running,
    /// The last block ended.
    Ended,
    /// The input ran out first.
    Truncated,
    Failed,
}

/// Raw deflate, decoded `ahead` bytes past what was read.
pub(super) struct Inflate<'a> {
    input: &'a [u8],
    z: Decompress,
    buf: Vec<u8>,
    /// Read position in `buf`.
    at: usize,
    ahead: usize,
    end: End,
}

impl<'a> Inflate<'a> {
    fn new(input: &'a [u8], ahead: usize) -> Self {
        Inflate {
            input,
            z: Decompress::new(false),
            buf: Vec::new(),
            at: 0,
            ahead,
            end: End::Running,
        }
    }

    fn consumed(&self) -> usize {
        usize::try_from(self.z.total_in()).unwrap_or(usize::MAX)
    }

    fn exhausted(&self) -> bool {
        match self.end {
            End::Running => false,
            End::Truncated | End::Failed => true,
            End::Ended => {
                self.input.len().saturating_sub(self.consumed()) <= 4
            }
        }
    }

    /// Decodes until `want` bytes are held or the stream stops.
    fn fill(&mut self, want: usize) {
        const CHUNK: usize = 64 * 1024;
        while self.end == End::Running && self.buf.len() - self.at < want {
            if self.at >= CHUNK {
                self.buf.drain(..self.at);
                self.at = 0;
            }
            let held = self.buf.len();
            // No further than asked: how far the decoder has got decides
            // where a solid archive is left.
            let room = (want - (held - self.at)).min(CHUNK);
            self.buf.resize(held + room, 0);
            let from = self.consumed().min(self.input.len());
            let before = (self.z.total_in(), self.z.total_out());
            let res = self.z.decompress(
                &self.input[from..],
                &mut self.buf[held..],
                FlushDecompress::None,
            );
            let made =
                usize::try_from(self.z.total_out() - before.1).unwrap_or(0);
            self.buf.truncate(held + made);
            self.end = match res {
                Ok(Status::StreamEnd) => End::Ended,
                Ok(_) if made == 0 && self.z.total_in() == before.0 => {
                    End::Truncated
                }
                Ok(_) => End::Running,
                Err(_) => End::Failed,
            };
        }
    }
}

impl Read for Inflate<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.fill(out.len().saturating_add(self.ahead));
        let k = out.len().min(self.buf.len() - self.at);
        out[..k].copy_from_slice(&self.buf[self.at..self.at + k]);
        self.at += k;
        if k == 0 && !out.is_empty() {
            match self.end {
                End::Failed => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "damaged deflate stream",
                    ));
                }
                End::Truncated => {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                End::Running | End::Ended => {}
            }
        }
        Ok(k)
    }
}
