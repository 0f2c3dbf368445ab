use super::*;
use crate::unpack::tests::{budget, collect};

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!("/usr/share/clamav-testfiles/{name}");
    std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{path}: apt-get install clamav-testfiles"))
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    assert!(mew(&pe, &mut c).skipped.is_none());
    assert!(upack(&pe, &mut c).skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own MEW sample: the file clamscan rebuilds from it (kept
/// with `--leave-temps`) is the one made here.
#[test]
fn clamav_mew_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample("clam-mew.exe");
    let mut c = collect(budget());
    let u = mew(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 21504);
    assert_eq!(md5(file), "eb55c7b07f6c22b7c09ea52a8eeaddec");
}

#[test]
fn clamav_upack_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample("clam-upack.exe");
    let mut c = collect(budget());
    let u = upack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 17408);
    assert_eq!(md5(file), "de4f18d10798acf90ab81dc899dffb14");
}

#[test]
fn each_sample_is_only_its_own_packer() {
    let mut c = collect(budget());
    let _ = upack(&sample("clam-mew.exe"), &mut c);
    let _ = mew(&sample("clam-upack.exe"), &mut c);
    assert!(c.children.is_empty());
}

/// Writes MEW's LZ77 tag bits and data bytes in the order the reader
/// takes them.
struct Enc {
    out: Vec<u8>,
    tag_at: usize,
    used: u32,
}

impl Enc {
    fn bit(&mut self, b: u32) {
        if self.used == 8 {
            self.tag_at = self.out.len();
            self.out.push(0);
            self.used = 0;
        }
        self.out[self.tag_at] |= (b as u8) << (7 - self.used);
        self.used += 1;
    }
}

/// One record's stream: a literal, one match of 2^k bytes at the last
/// distance (never set, so 0: a run of the byte before), the end mark.
fn long_run(k: u32) -> Vec<u8> {
    let mut e = Enc { out: vec![0x41], tag_at: 0, used: 8 };
    for b in [1, 0, 0, 0] {
        e.bit(b);
    }
    for i in 0..k {
        e.bit(0);
        e.bit(u32::from(i + 1 < k));
    }
    for b in [1, 1, 0] {
        e.bit(b);
    }
    e.out.push(0);
    e.out
}

const BASE: u32 = 0x40_0000;

/// clamscan's default MaxFileSize and MaxScanSize.
fn clamav_limits() -> crate::unpack::Budget {
    crate::unpack::Budget {
        max_file: 100 << 20,
        bytes_left: 400 << 20,
        files_left: 10000,
    }
}

/// A MEW file whose packed section holds `records` records, each
/// writing 2^k bytes over the start of a `image_mib` MiB image.
fn many_records(records: usize, k: u32, image_mib: u32) -> Vec<u8> {
    let image = image_mib << 20;
    let vma = BASE + 0x1000;
    let mut data = vec![0u8; 8];
    data.extend_from_slice(&(BASE + 0x1000).to_le_bytes());
    data.extend_from_slice(&vma.to_le_bytes());
    for i in 0..records {
        data.extend(long_run(k));
        let next = if i + 1 == records { 0 } else { vma };
        data.extend_from_slice(&next.to_le_bytes());
    }
    data.resize(data.len() + 64, 0);
    let rsz = (data.len() as u32).next_multiple_of(0x200);
    data.resize(rsz as usize, 0);
    let packed = rsz.next_multiple_of(0x1000);
    let mut f = vec![0u8; 0x400];
    let put = |f: &mut Vec<u8>, at: usize, v: &[u8]| {
        f[at..at + v.len()].copy_from_slice(v)
    };
    put(&mut f, 0, b"MZ");
    put(&mut f, 0x3c, &0x80u32.to_le_bytes());
    put(&mut f, 0x80, b"PE\0\0");
    put(&mut f, 0x84, &0x14cu16.to_le_bytes());
    put(&mut f, 0x86, &2u16.to_le_bytes());
    put(&mut f, 0x94, &0xe0u16.to_le_bytes());
    put(&mut f, 0x96, &0x10fu16.to_le_bytes());
    let o = 0x98;
    put(&mut f, o, &0x10bu16.to_le_bytes());
    put(&mut f, o + 16, &0x100u32.to_le_bytes()); // entry point in the header
    put(&mut f, o + 28, &BASE.to_le_bytes());
    put(&mut f, o + 32, &0x1000u32.to_le_bytes());
    put(&mut f, o + 36, &0x200u32.to_le_bytes());
    put(&mut f, o + 56, &(0x1000 + image + packed).to_le_bytes());
    put(&mut f, o + 60, &0x400u32.to_le_bytes());
    put(&mut f, o + 68, &2u16.to_le_bytes());
    put(&mut f, o + 92, &16u32.to_le_bytes());
    let t = o + 0xe0;
    put(&mut f, t, b"MEW");
    put(&mut f, t + 8, &image.to_le_bytes());
    put(&mut f, t + 12, &0x1000u32.to_le_bytes());
    put(&mut f, t + 36, &0xe000_0060u32.to_le_bytes());
    let t = t + 40;
    put(&mut f, t + 8, &packed.to_le_bytes());
    put(&mut f, t + 12, &(0x1000 + image).to_le_bytes());
    put(&mut f, t + 16, &rsz.to_le_bytes());
    put(&mut f, t + 20, &0x400u32.to_le_bytes());
    put(&mut f, t + 36, &0xc000_0040u32.to_le_bytes());
    // jmp to the stub at 0x154, whose `mov esi` names the header (4
    // bytes into the packed section).
    f[0x100] = 0xe9;
    put(&mut f, 0x101, &(0x154i32 - 0x100 - 5).to_le_bytes());
    f[0x154] = 0xbe;
    put(&mut f, 0x155, &(BASE + 0x1000 + image + 4).to_le_bytes());
    f.extend(data);
    f
}

/// A few records rewriting the image stay within the work bound and
/// are rebuilt.
#[test]
fn a_short_chain_of_records_is_rebuilt() {
    let pe = many_records(3, 12, 1);
    let mut c = collect(clamav_limits());
    let u = mew(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
}

/// Thousands of records, each rewriting megabytes of a large image:
/// the work bound ends them quickly and says so.
#[test]
fn a_long_chain_of_records_hits_the_work_bound() {
    let pe = many_records(2000, 23, 64);
    let mut c = collect(clamav_limits());
    let t = std::time::Instant::now();
    let u = mew(&pe, &mut c);
    assert!(matches!(
        u.skipped,
        Some(crate::unpack::Reason::Malformed { format: "MEW" })
    ));
    assert!(c.children.is_empty());
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
}

/// MEW's LZMA blocks may each name the whole image again: the decoder
/// charges what it writes (and each fill of its tables) to the budget.
#[test]
fn lzma_blocks_charge_the_work_bound() {
    let vma = 0x40_1000u32;
    let image = 1usize << 20;
    let tables = 0xc_0000u32;
    let (blocks, n, gap) = (8usize, 256u32 << 10, 0x4000usize);
    let mut mem = Mem { b: vec![0u8; image + 4 + blocks * (13 + gap) + 64] };
    mem.b[image..image + 4].copy_from_slice(&(tables + vma).to_le_bytes());
    let mut src = image + 4;
    for _ in 0..blocks {
        mem.b[src..src + 4].copy_from_slice(&n.to_le_bytes());
        mem.b[src + 4..src + 8].copy_from_slice(&vma.to_le_bytes());
        mem.b[src + 8..src + 12].copy_from_slice(&(gap as u32).to_le_bytes());
        src += 13 + gap;
    }
    let mut work = Work::new(1 << 20);
    let r = lzma::mew_lzma(&mut mem, image as u64, vma, false, &mut work);
    assert!(r.is_none() && work.spent);
    // The same blocks within a larger budget decode to the end.
    let mut mem2 = Mem { b: mem.b.clone() };
    let mut work = Work::new(4 << 20);
    let _ = lzma::mew_lzma(&mut mem2, image as u64, vma, false, &mut work);
    assert!(!work.spent);
}

/// The chunked copy writes what a byte-by-byte forward copy writes,
/// for every overlap.
#[test]
fn copy_forward_is_a_byte_by_byte_copy() {
    let start: Vec<u8> = (0..64u8).collect();
    for from in 0..24u64 {
        for to in 0..24u64 {
            for n in 0..24u64 {
                let mut fast = Mem { b: start.clone() };
                let mut slow = start.clone();
                assert!(fast.copy_forward(from, to, n).is_some());
                for k in 0..n as usize {
                    slow[to as usize + k] = slow[from as usize + k];
                }
                assert_eq!(fast.b, slow, "{from} {to} {n}");
            }
        }
    }
    assert!(Mem { b: start }.copy_forward(60, 0, 8).is_none());
}
