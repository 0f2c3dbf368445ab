//! The one message spool of the suite: what nod32smtp reads after DATA,
//! what the milter protocol collects from the MTA, what nod32mda reads
//! from standard input. A message stays in memory up to a limit, then
//! moves to an unlinked temp file, so that a thousand slow clients
//! sending big messages never hold them all in memory, and nothing is
//! left on disk whatever ends the process.
#![deny(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::ops::Deref;

/// A message as it arrives.
#[derive(Debug, Default)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    limit: usize,
    /// Whether line ends are watched for [`Spool::has_bare_line_ends`].
    watch: bool,
    /// The last byte pushed was a CR.
    cr: bool,
    /// A CR or LF stood alone somewhere (not in CR LF).
    bare: bool,
}

impl Spool {
    /// An empty spool keeping up to `limit` bytes in memory (0: every
    /// byte goes to the file).
    pub fn new(limit: u64) -> Spool {
        Spool {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            ..Spool::default()
        }
    }

    /// Also notes whether a CR or LF stands alone in what is pushed (for
    /// SMTP, where a next hop might read one as a line end).
    pub fn watching_line_ends(mut self) -> Spool {
        self.watch = true;
        self
    }

    /// Appends bytes, moving to the temp file once the memory limit
    /// would be passed.
    ///
    /// # Errors
    /// The temp file cannot be made or written (disk full).
    pub fn push(&mut self, b: &[u8]) -> io::Result<()> {
        self.push_within(b, self.limit)
    }

    /// [`Spool::push`] with the memory limit given by the caller (the
    /// milter protocol's session holds it, not each message).
    ///
    /// # Errors
    /// The temp file cannot be made or written (disk full).
    pub fn push_within(&mut self, b: &[u8], limit: usize) -> io::Result<()> {
        if self.watch && !self.bare {
            self.note_line_ends(b);
        }
        if self.file.is_none()
            && self.mem.len().saturating_add(b.len()) > limit
        {
            let mut f = tempfile::tempfile()?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(b)?,
            None => self.mem.extend_from_slice(b),
        }
        self.len += b.len() as u64;
        Ok(())
    }

    /// Appends everything `r` gives.
    ///
    /// # Errors
    /// Reading `r`, or writing the temp file, failed.
    pub fn fill_from(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        let mut total = 0;
        if self.file.is_none() && !self.watch && self.mem.len() < self.limit {
            // Straight into the memory buffer: `read_to_end` reads into
            // its spare capacity, where a zeroed bounce buffer would
            // touch 16 pages a one-page message never needs (nod32mda
            // pays each page fault once per message).
            let room = self.limit - self.mem.len();
            let before = self.mem.len();
            self.mem.reserve(room.min(8 << 10));
            let read = r.take(room as u64).read_to_end(&mut self.mem);
            // What was read before a failure is held, and counted.
            let n = self.mem.len() - before;
            self.len += n as u64;
            total = n as u64;
            read?;
            if n < room {
                return Ok(total);
            }
            // Exactly full: the rest, if any, goes through the file.
        }
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.push(&buf[..n])?;
            total += n as u64;
        }
    }

    fn note_line_ends(&mut self, b: &[u8]) {
        let Some(&last) = b.last() else { return };
        if self.cr && b[0] != b'\n' {
            self.bare = true;
            return;
        }
        for i in memchr::memchr2_iter(b'\r', b'\n', b) {
            let bare = if b[i] == b'\n' {
                !(if i == 0 { self.cr } else { b[i - 1] == b'\r' })
            } else {
                b.get(i + 1).is_some_and(|&n| n != b'\n')
            };
            if bare {
                self.bare = true;
                return;
            }
        }
        self.cr = last == b'\r';
    }

    /// Whether a CR or LF stands alone in it (a CR at the very end
    /// included); only known when [`Spool::watching_line_ends`].
    pub fn has_bare_line_ends(&self) -> bool {
        self.bare || self.cr
    }

    /// Its size.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is in it.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is still held in memory (not yet in the temp file).
    pub fn in_memory(&self) -> bool {
        self.file.is_none()
    }

    /// The content, when it is held in memory (not in the temp file).
    pub fn memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(&self.mem[..])
    }

    /// Empties it (and drops its temp file).
    pub fn clear(&mut self) {
        self.mem.clear();
        self.file = None;
        self.len = 0;
        self.cr = false;
        self.bare = false;
    }

    /// Appends the whole content to `out`.
    ///
    /// # Errors
    /// The temp file cannot be read back.
    pub fn read_into(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.file {
            None => out.extend_from_slice(&self.mem),
            Some(f) => {
                f.rewind()?;
                f.read_to_end(out)?;
            }
        }
        Ok(())
    }

    /// The whole content, without a copy: the memory it is in, or the
    /// temp file mapped, so that a scan of a big message costs page
    /// cache, not heap.
    ///
    /// # Errors
    /// The temp file cannot be mapped.
    pub fn view(&self) -> io::Result<View<'_>> {
        let inner = match &self.file {
            None => Inner::Memory(&self.mem),
            // An empty file cannot be mapped, and needs not be.
            Some(_) if self.len == 0 => Inner::Memory(&[]),
            Some(f) => {
                // SAFETY: the file is this spool's own unlinked temp file:
                // no other process can reach it, and this one cannot push
                // to, clear or give away the spool (so neither write to
                // nor shrink the file) while the view borrows it; the map
                // never leaves the view.
                #[allow(unsafe_code)]
                let map = unsafe { memmap2::Mmap::map(f) }?;
                Inner::Mapped(map, std::marker::PhantomData)
            }
        };
        Ok(View(inner))
    }

    /// The whole content in memory.
    ///
    /// # Errors
    /// The temp file cannot be read back.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut out =
            Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// The content, read from its start.
    ///
    /// # Errors
    /// The temp file cannot be rewound.
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        match &mut self.file {
            None => Ok(Box::new(&self.mem[..])),
            Some(f) => {
                f.rewind()?;
                Ok(Box::new(f))
            }
        }
    }

    /// Reads what is held from `offset` on into `buf`; 0 at the end. No
    /// position moves, so the content can be taken piece by piece by one
    /// who does not hold the spool borrowed meanwhile (nod32smtp's driver
    /// hands a message out between replies of the next hop).
    ///
    /// # Errors
    /// The temp file cannot be read.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        match &self.file {
            None => {
                let from = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(self.mem.len());
                let n = buf.len().min(self.mem.len() - from);
                buf[..n].copy_from_slice(&self.mem[from..from + n]);
                Ok(n)
            }
            Some(f) => loop {
                match f.read_at(buf, offset) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => return r,
                }
            },
        }
    }

    /// The content as a file positioned at its start (for a program's
    /// standard input), written out first if it was in memory.
    ///
    /// # Errors
    /// The temp file cannot be made, written or rewound.
    pub fn into_file(self) -> io::Result<File> {
        let mut f = match self.file {
            Some(f) => f,
            None => {
                let mut f = tempfile::tempfile()?;
                f.write_all(&self.mem)?;
                f
            }
        };
        f.rewind()?;
        Ok(f)
    }
}

/// A spool's content ([`Spool::view`]), as bytes only: the map of the
/// temp file cannot be taken out of it, so it cannot outlive the borrow
/// of the spool that keeps the file from changing.
#[derive(Debug)]
pub struct View<'a>(Inner<'a>);

#[derive(Debug)]
enum Inner<'a> {
    Memory(&'a [u8]),
    Mapped(memmap2::Mmap, std::marker::PhantomData<&'a Spool>),
}

impl View<'_> {
    /// Whether the content is the temp file, mapped.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Inner::Mapped(..))
    }
}

impl Deref for View<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Memory(m) => m,
            Inner::Mapped(m, _) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_then_file_reads_back_the_same() {
        let mut s = Spool::new(4);
        s.push(b"012").unwrap();
        assert!(s.file.is_none());
        s.push(b"345").unwrap();
        assert!(s.file.is_some());
        assert_eq!(s.len(), 6);
        assert_eq!(s.read_all().unwrap(), b"012345");
        let mut back = Vec::new();
        s.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"012345");
        let mut f = s.into_file().unwrap();
        back.clear();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"012345");
    }

    #[test]
    fn bytes_read_before_a_failure_are_counted() {
        struct Fails(u8);
        impl Read for Fails {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("gone"));
                }
                self.0 -= 1;
                buf[..5].copy_from_slice(b"abcde");
                Ok(5)
            }
        }
        let mut s = Spool::new(1 << 20);
        assert!(s.fill_from(&mut Fails(2)).is_err());
        assert_eq!(s.len(), 10);
        assert_eq!(&*s.view().unwrap(), b"abcdeabcde");
    }

    #[test]
    fn a_view_is_the_content_in_memory_or_mapped() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut s = Spool::new(4096);
        s.push(&data[..4000]).unwrap();
        let v = s.view().unwrap();
        assert!(!v.is_mapped());
        assert_eq!(&*v, &data[..4000]);
        s.push(&data[4000..]).unwrap();
        let v = s.view().unwrap();
        assert!(v.is_mapped());
        assert_eq!(&*v, &data[..]);
        // Nothing in memory at all: the one byte is the file's.
        let mut s = Spool::new(0);
        assert!(s.view().unwrap().is_empty());
        s.push(b"x").unwrap();
        let v = s.view().unwrap();
        assert!(v.is_mapped());
        assert_eq!(&*v, b"x");
    }

    #[test]
    fn pieces_read_at_offsets_add_up_to_the_content() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        for limit in [0, 100_000] {
            let mut s = Spool::new(limit);
            s.push(&data).unwrap();
            assert_eq!(s.in_memory(), limit > 0);
            let mut back = Vec::new();
            let mut buf = [0u8; 7];
            loop {
                let n = s.read_at(back.len() as u64, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            assert_eq!(back, data);
            assert_eq!(s.read_at(5000, &mut buf).unwrap(), 0);
        }
    }

    #[test]
    fn a_limit_of_zero_spools_everything_and_fill_reads_all() {
        let mut s = Spool::new(0);
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        assert_eq!(s.fill_from(&mut &data[..]).unwrap(), 200_000);
        assert!(s.file.is_some());
        assert_eq!(s.read_all().unwrap(), data);
        s.clear();
        assert!(s.is_empty() && s.file.is_none());
        let mut f = Spool::new(100).into_file().unwrap();
        assert_eq!(f.read(&mut [0u8; 4]).unwrap(), 0);
    }

    #[test]
    fn fill_keeps_what_fits_in_memory_and_spools_the_rest() {
        let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        for (limit, in_memory) in
            [(50_000, true), (49_999, false), (100, false), (1 << 20, true)]
        {
            let mut s = Spool::new(limit);
            assert_eq!(s.fill_from(&mut &data[..]).unwrap(), 50_000);
            assert_eq!(s.len(), 50_000);
            assert_eq!(s.in_memory(), in_memory, "{limit}");
            assert_eq!(s.memory().is_some(), in_memory);
            if let Some(m) = s.memory() {
                assert_eq!(m, &data[..]);
            }
            assert_eq!(s.read_all().unwrap(), data);
        }
        // Bytes pushed before are kept, and count against the limit.
        let mut s = Spool::new(10);
        s.push(b"0123").unwrap();
        assert_eq!(s.fill_from(&mut &b"456789"[..]).unwrap(), 6);
        assert_eq!(s.memory(), Some(&b"0123456789"[..]));
        assert_eq!(s.fill_from(&mut &b"a"[..]).unwrap(), 1);
        assert!(!s.in_memory());
        assert_eq!(s.read_all().unwrap(), b"0123456789a");
    }

    #[test]
    fn bare_line_ends_are_seen_across_pushes() {
        for (parts, bare) in [
            (&[&b"a\r\nb\r\n"[..]][..], false),
            (&[b"a\r", b"\nb\r\n"], false),
            (&[b"a\r", b"b\r\n"], true),
            (&[b"a\nb"], true),
            (&[b"a\r"], true),
            (&[b"\n"], true),
        ] {
            let mut s = Spool::new(100).watching_line_ends();
            for p in parts {
                s.push(p).unwrap();
            }
            assert_eq!(s.has_bare_line_ends(), bare, "{parts:?}");
        }
        let mut plain = Spool::new(100);
        plain.push(b"a\nb").unwrap();
        assert!(!plain.has_bare_line_ends());
    }
}
