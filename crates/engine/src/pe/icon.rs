//! A PE's icons as ClamAV's `.idb` signatures describe them: the icons
//! of its first icon group, each decoded, scaled to 16, 24 or 32 pixels
//! (or the side two halvings reach), and reduced to the positions and
//! averages of its most coloured, greyest, brightest, darkest, most and
//! least edged areas, plus how much of it is coloured and in which hues.
//! Two icons match when those areas lie close enough and are alike
//! enough (a confidence of 64 to 72 out of 100).
//!
//! Every step is ClamAV's, down to its rounding and the oddities that
//! decide whether a signature matches: the edge map goes through CIE Lab
//! in 64-bit floats (with the constants rounded to 32 bits as ClamAV
//! writes them), the right-most column of areas is never a candidate, a
//! 16-bit pixel unpacks as ClamAV unpacks it, and a black-and-white icon
//! reuses its edge positions for its grey areas. A test compares the
//! hashes with those clamscan prints (`tests/icons.rs`).

use goblin::pe::header::{Header, SIZEOF_COFF_HEADER, SIZEOF_PE_MAGIC};

use super::vinfo::{AddressMap, u16_at, u32_at};

/// One area: its average and the position of its top-left corner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Area {
    pub avg: u32,
    pub x: u32,
    pub y: u32,
}

/// What an icon is compared by (an `.idb` line's hash).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// The side of the square image the areas were taken from.
    pub side: u32,
    pub color: [Area; 3],
    pub gray: [Area; 3],
    pub bright: [Area; 3],
    pub dark: [Area; 3],
    pub edge: [Area; 3],
    pub noedge: [Area; 3],
    pub rsum: u32,
    pub gsum: u32,
    pub bsum: u32,
    /// The share of coloured pixels in percent (0 for a black-and-white
    /// icon, whose `color` and `gray` hold its second edge areas).
    pub ccount: u32,
}

impl Metrics {
    /// The size class the icon is compared in: 0 for 16-pixel
    /// signatures, 1 for 24, 2 for 32.
    pub fn bucket(&self) -> usize {
        (self.side / 8).saturating_sub(2).min(2) as usize
    }

    /// The hash as an `.idb` line and clamscan's debug output write it.
    pub fn hex(&self) -> String {
        use std::fmt::Write;
        let mut s = format!("{:02x}", self.side);
        for group in [&self.color, &self.gray] {
            for a in group {
                let _ = write!(s, "{:03x}{:02x}{:02x}", a.avg, a.x, a.y);
            }
        }
        for group in [&self.bright, &self.dark, &self.edge, &self.noedge] {
            for a in group {
                let _ = write!(s, "{:02x}{:02x}{:02x}", a.avg, a.x, a.y);
            }
        }
        let _ = write!(
            s,
            "{:02x}{:02x}{:02x}{:02x}",
            self.rsum, self.gsum, self.bsum, self.ccount
        );
        s
    }
}

/// ClamAV's default for how many entries of the icon group are looked
/// at (`--max-iconspe`).
pub const MAX_ICONS: u32 = 100;
/// Resource data entries looked up at most (ClamAV has no bound; a
/// directory whose entries all point at one other directory would make
/// billions).
const MAX_ENTRIES: usize = 4096;
/// Icons decoded at most per entry: ClamAV decodes every language of
/// every entry, so that a crafted file could make it decode millions; a
/// localised executable has a few languages.
const MAX_LANGUAGES: usize = 16;
/// Directory entries read at most per lookup.
const MAX_READS: u32 = 1 << 16;
const RT_ICON: u32 = 3;
const RT_GROUP_ICON: u32 = 14;

/// The icons ClamAV would compare for `data`, in its order: none for a
/// DLL, a file without resources or headers that do not hold.
pub(crate) fn icons(data: &[u8]) -> Vec<Metrics> {
    // goblin is fuzzed upstream; a panic would still only mean "none".
    std::panic::catch_unwind(|| read_icons(data)).unwrap_or_default()
}

fn read_icons(data: &[u8]) -> Vec<Metrics> {
    let mut out = Vec::new();
    let Some(pe_at) = super::pe_offset(data) else { return out };
    let from_pe = &data[pe_at..];
    let Ok(h) = Header::parse_without_dos(from_pe) else { return out };
    let Some(opt) = h.optional_header else { return out };
    if h.coff_header.characteristics & 0x2000 != 0 {
        return out;
    }
    let Some(res) = opt.data_directories.get_resource_table() else {
        return out;
    };
    if res.size == 0 || res.virtual_address == 0 {
        return out;
    }
    let mut at = SIZEOF_PE_MAGIC
        + SIZEOF_COFF_HEADER
        + h.coff_header.size_of_optional_header as usize;
    let Ok(table) = h.coff_header.sections(from_pe, &mut at) else {
        return out;
    };
    let map = AddressMap::new(data.len(), &table, &opt);
    let walk = Walk { data, map: &map, root: res.virtual_address };
    let groups = walk.find(RT_GROUP_ICON, None);
    let mut entries = 0u32;
    // Only the first group's name (all its languages) is looked at.
    let first = groups.first().map(|g| g.0);
    for &(_, g) in groups.iter().take_while(|g| Some(g.0) == first) {
        let Some(o) = map.offset(g.into()).filter(|&o| walk.need(o, 16))
        else {
            continue;
        };
        let (Some(to), Some(size)) = (u32_at(data, o), u32_at(data, o + 4))
        else {
            continue;
        };
        if size <= 6 {
            continue;
        }
        let Some(dir) =
            map.offset(to.into()).filter(|&r| walk.need(r, size.into()))
        else {
            continue;
        };
        let Some(mut count) = u16_at(data, dir + 4) else { continue };
        let (mut entry, mut rem) = (dir + 6, size - 6);
        while count > 0 && rem >= 14 {
            let id = u16_at(data, entry + 12).unwrap_or(0);
            for (_, rva) in
                walk.find(RT_ICON, Some(id)).into_iter().take(MAX_LANGUAGES)
            {
                out.extend(decode(data, &map, rva));
            }
            entries += 1;
            count -= 1;
            if entries >= MAX_ICONS {
                return out;
            }
            entry += 14;
            rem -= 14;
        }
    }
    out
}

/// The resource tree as ClamAV walks it.
struct Walk<'a> {
    data: &'a [u8],
    map: &'a AddressMap,
    root: u32,
}

impl Walk<'_> {
    fn need(&self, at: u64, len: u64) -> bool {
        at.checked_add(len).is_some_and(|end| end <= self.data.len() as u64)
    }

    /// A directory's file offset and its named and numbered entry counts.
    fn dir(&self, to: u32) -> Option<(u64, u32, u32)> {
        let rva = self.root.wrapping_add(to & 0x7fff_ffff);
        let at = self.map.offset(rva.into()).filter(|&a| self.need(a, 16))?;
        Some((at, u16_at(self.data, at + 12)?, u16_at(self.data, at + 14)?))
    }

    /// The (name, data entry address) of every resource of type `ty`
    /// named `name` (any when `None`), in order: only the first type
    /// entry, named entries first when any name will do, numbered ones
    /// only otherwise; the walk ends where a directory or an entry
    /// cannot be read.
    fn find(&self, ty: u32, name: Option<u32>) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let Some((types, named, ids)) = self.dir(0) else { return out };
        // Every entry read counts against a budget, so that directories
        // pointing at each other cannot make the walk endless.
        let budget = std::cell::Cell::new(MAX_READS);
        let entry = |at: u64| {
            budget.set(budget.get().checked_sub(1)?);
            Some((u32_at(self.data, at)?, u32_at(self.data, at + 4)?))
        };
        for i in 0..u64::from(ids) {
            let Some((id, to)) =
                entry(types + 16 + 8 * (u64::from(named) + i))
            else {
                return out;
            };
            if id != ty || to >> 31 == 0 {
                continue;
            }
            let Some((names, named, ids)) = self.dir(to) else { return out };
            let (first, count) = match name {
                None => (0, (named + ids) & 0xffff),
                Some(_) => (named, ids),
            };
            for j in 0..u64::from(count) {
                let Some((n, to)) =
                    entry(names + 16 + 8 * (u64::from(first) + j))
                else {
                    return out;
                };
                if name.is_some_and(|want| want != n) || to >> 31 == 0 {
                    continue;
                }
                let Some((langs, named, ids)) = self.dir(to) else {
                    return out;
                };
                for k in 0..u64::from((named + ids) & 0xffff) {
                    let Some((_, to)) = entry(langs + 16 + 8 * k) else {
                        return out;
                    };
                    if to >> 31 == 0 {
                        if out.len() == MAX_ENTRIES {
                            return out;
                        }
                        out.push((n, self.root.wrapping_add(to)));
                    }
                }
            }
            return out;
        }
        out
    }
}

/// One icon's metrics from its resource data entry at `rva`, or `None`
/// where ClamAV passes the icon over.
fn decode(data: &[u8], map: &AddressMap, rva: u32) -> Option<Metrics> {
    let need = |at: u64, len: u64| {
        at.checked_add(len).is_some_and(|end| end <= data.len() as u64)
    };
    let o = map.offset(rva.into()).filter(|&o| need(o, 4))?;
    let to = u32_at(data, o)?;
    let o = map.offset(to.into()).filter(|&o| need(o, 40))?;
    let header_size = u32_at(data, o)?;
    let w = u32_at(data, o + 4)?;
    // The height covers the colours and the mask; a negative (top-down)
    // one is taken as a huge unsigned number, as ClamAV takes it.
    let h = u32_at(data, o + 8)? / 2;
    let depth = u16_at(data, o + 14)?;
    if header_size < 40 {
        return None;
    }
    let mut o = (o as u32).wrapping_add(header_size);
    // A PNG icon ends here: its signature reads as a huge width.
    if !(16..=256).contains(&w) || !(16..=256).contains(&h) {
        return None;
    }
    if w < 3 * h / 4 || h < 3 * w / 4 {
        return None;
    }
    let mut palette = Vec::new();
    match depth {
        1 | 4 | 8 => {
            let n = 1u32 << depth;
            if !need(o.into(), 4 * u64::from(n)) {
                return None;
            }
            palette = (0..n)
                .map(|i| u32_at(data, u64::from(o) + 4 * u64::from(i)))
                .collect::<Option<_>>()?;
            o = o.wrapping_add(4 * n);
        }
        16 | 24 | 32 => {}
        _ => return None,
    }
    let stride = 4 * (w * depth).div_ceil(32);
    let mut mask_stride = if depth % 32 != 0 { 4 * w.div_ceil(32) } else { 0 };
    if !need(o.into(), u64::from(h) * u64::from(stride + mask_stride)) {
        return None;
    }
    let (wu, hu) = (w as usize, h as usize);
    let mut img = vec![0u32; wu * hu];
    let mut any_alpha = 0u8;
    for y in 0..hu {
        let row =
            &data[(o as usize + y * stride as usize)..][..stride as usize];
        let out = &mut img[(hu - 1 - y) * wu..][..wu];
        match depth {
            1 | 4 | 8 => {
                let per = 8 / depth as usize;
                let bits = (1u32 << depth) - 1;
                for (x, px) in out.iter_mut().enumerate() {
                    let byte = u32::from(row[x / per]);
                    let n = (x % per) as u32;
                    let i = (byte >> (8 - depth * (n + 1))) & bits;
                    *px = palette[i as usize];
                }
            }
            16 => {
                for (x, px) in out.iter_mut().enumerate() {
                    let (lo, hi) =
                        (u32::from(row[2 * x]), u32::from(row[2 * x + 1]));
                    let b = lo & 0x1f;
                    let g = (lo >> 5) | ((hi & 3) << 3);
                    let r = hi & 0xfc;
                    // The bits land where ClamAV's unpacking puts them,
                    // red reaching into the alpha byte.
                    *px = (((r << 3) | (r >> 2)) << 17)
                        | (((g << 3) | (g >> 2)) << 11)
                        | ((b << 3) | (b >> 2));
                }
            }
            24 => {
                for (x, px) in out.iter_mut().enumerate() {
                    let p = &row[3 * x..3 * x + 3];
                    *px = u32::from(p[2]) << 16
                        | u32::from(p[1]) << 8
                        | u32::from(p[0]);
                }
            }
            _ => {
                for (x, px) in out.iter_mut().enumerate() {
                    let p = &row[4 * x..4 * x + 4];
                    any_alpha |= p[3];
                    *px = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                }
            }
        }
    }
    let mut apply_mask = depth != 32;
    if depth == 32 && any_alpha == 0 {
        // A 32-bit icon without alpha is a 24-bit one with a mask, when
        // the mask is there; without it, the whole icon is opaque.
        mask_stride = 4 * w.div_ceil(32);
        let at = o.wrapping_add(h * stride);
        if need(at.into(), u64::from(h) * u64::from(mask_stride)) {
            apply_mask = true;
        } else {
            img.iter_mut().for_each(|p| *p |= 0xff00_0000);
        }
    }
    if apply_mask {
        let at = o.wrapping_add(h * stride) as usize;
        for y in 0..hu {
            let row = &data[at + y * mask_stride as usize..];
            let out = &mut img[(hu - 1 - y) * wu..][..wu];
            for (x, px) in out.iter_mut().enumerate() {
                if row[x / 8] >> (7 - x % 8) & 1 == 0 {
                    *px |= 0xff00_0000;
                }
            }
        }
    }
    // Blended onto white.
    for p in &mut img {
        let a = *p >> 24;
        let blend = |c: u32| 255 - a + a * c / 255;
        *p = 0xff00_0000
            | blend(*p >> 16 & 0xff) << 16
            | blend(*p >> 8 & 0xff) << 8
            | blend(*p & 0xff);
    }
    let (img, side) = scale(img, w, h);
    Some(metrics(&img, side))
}

/// The square image the areas are taken from, and its side.
fn scale(mut img: Vec<u32>, mut w: u32, h: u32) -> (Vec<u32>, u32) {
    if w == h && matches!(w, 16 | 24 | 32) {
        return (img, w);
    }
    if w == h && (w.is_multiple_of(32) || w.is_multiple_of(24)) {
        // Halved until 32 or less, each pixel the byte-wise mean of two
        // means of two, rounded down at each step.
        let avg = |a: u32, b: u32| ((a ^ b) & 0xfefe_fefe) / 2 + (a & b);
        while w > 32 {
            let n = w / 2;
            let at = |x: u32, y: u32| img[(y * w + x) as usize];
            let mut out = Vec::with_capacity((n * n) as usize);
            for y in 0..n {
                for x in 0..n {
                    let top = avg(at(2 * x, 2 * y), at(2 * x + 1, 2 * y));
                    let bottom =
                        avg(at(2 * x, 2 * y + 1), at(2 * x + 1, 2 * y + 1));
                    out.push(avg(top, bottom));
                }
            }
            img = out;
            w = n;
        }
        return (img, w);
    }
    let dist = |n: u32| w.abs_diff(n) + h.abs_diff(n);
    let n = if dist(32) < dist(24) {
        32
    } else if dist(24) < dist(16) {
        24
    } else {
        16
    };
    let (sx, sy) = (f64::from(w) / f64::from(n), f64::from(h) / f64::from(n));
    let mut out = Vec::with_capacity((n * n) as usize);
    for y in 0..n {
        for x in 0..n {
            // Rounded across, truncated down, as ClamAV picks them.
            let ox = (f64::from(x) * sx + 0.5) as u32;
            let oy = (f64::from(y) * sy) as u32;
            out.push(img[(oy.min(h - 1) * w + ox.min(w - 1)) as usize]);
        }
    }
    (out, n)
}

/// The best `n` areas by `value`, none overlapping an earlier one, over
/// ClamAV's grid of candidates (whose last column is never one).
fn pick(
    n: usize,
    s: u32,
    k: u32,
    value: &dyn Fn(u32, u32) -> u32,
    more: bool,
) -> Vec<(u32, u32, u32)> {
    let init = if more { 0 } else { u32::MAX };
    let mut best: Vec<(u32, u32, u32)> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut b = (init, 0, 0);
        for y in 0..s - k {
            for x in 0..s - k - 1 {
                let v = value(x, y);
                let better = if more { v > b.0 } else { v < b.0 };
                if better
                    && best.iter().all(|&(_, bx, by)| {
                        !(x + k > bx && x < bx + k && y + k > by && y < by + k)
                    })
                {
                    b = (v, x, y);
                }
            }
        }
        best.push(b);
    }
    best
}

/// Sums over every `k`×`k` window of a square table of side `s`.
fn window_sums(v: &[u32], s: u32, k: u32) -> impl Fn(u32, u32) -> u32 + '_ {
    move |x, y| {
        let mut sum = 0u32;
        for yy in y..y + k {
            for xx in x..x + k {
                sum = sum.wrapping_add(v[(yy * s + xx) as usize]);
            }
        }
        sum
    }
}

fn areas(v: &[(u32, u32, u32)], k: u32) -> [Area; 3] {
    let a = |i: usize| Area { avg: v[i].0 / (k * k), x: v[i].1, y: v[i].2 };
    [a(0), a(1), a(2)]
}

/// The distance in CIE Lab from the reference colour ClamAV measures
/// edges against, with its constants as the 32-bit floats it writes.
fn lab_distance(p: u32) -> f64 {
    let c = |v: f32| f64::from(v);
    let channel = |v: u32| {
        let u = f64::from(v) / 255.0;
        let u = if u > c(0.04045) {
            ((u + c(0.055)) / c(1.055)).powf(c(2.4))
        } else {
            u / c(12.92)
        };
        u * 100.0
    };
    let (r, g, b) =
        (channel(p >> 16 & 0xff), channel(p >> 8 & 0xff), channel(p & 0xff));
    let x = (r * c(0.4124) + g * c(0.3576) + b * c(0.1805)) / c(95.047);
    let y = (r * c(0.2126) + g * c(0.7152) + b * c(0.0722)) / 100.0;
    let z = (r * c(0.0193) + g * c(0.1192) + b * c(0.9505)) / c(108.883);
    let f = |v: f64| {
        if v > c(0.008856) {
            v.powf(c(1.0f32 / 3.0f32))
        } else {
            c(7.787) * v + c(16.0f32 / 116.0f32)
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let (l, a, bb) = (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz));
    // The reference colour's Lab coordinates, as 32-bit floats.
    let (dl, da, db) = (
        53.192_779_541_015_625 - l,
        0.003_142_094_239_592_552 - a,
        -0.006_207_587_663_084_269 - bb,
    );
    (dl * dl + da * da + db * db).sqrt()
}

fn metrics(img: &[u32], s: u32) -> Metrics {
    let k = s / 4;
    let n = (s * s) as usize;
    let (mut weight, mut value) = (vec![0u32; n], vec![0u32; n]);
    let (mut count, mut rs, mut gs, mut bs) = (0u32, 0u32, 0u32, 0u32);
    for (i, &p) in img.iter().enumerate() {
        let (r, g, b) = (p >> 16 & 0xff, p >> 8 & 0xff, p & 0xff);
        let v = r.max(g).max(b);
        let delta = v - r.min(g).min(b);
        let sat = if delta == 0 { 0 } else { 255 * delta / v };
        weight[i] = f64::from(sat * sat * v).sqrt() as u32;
        value[i] = v;
        if sat > 85 && v > 85 {
            count += 1;
            rs += 100 - 100 * g.abs_diff(b) / delta;
            gs += 100 - 100 * r.abs_diff(b) / delta;
            bs += 100 - 100 * r.abs_diff(g) / delta;
        }
    }
    let mut m = Metrics { side: s, ..Default::default() };
    let share = count * 100 / (s * s);
    let bw = share <= 5;
    if !bw {
        (m.rsum, m.gsum, m.bsum, m.ccount) =
            (rs / count, gs / count, bs / count, share);
    }
    let cs = window_sums(&weight, s, k);
    let ls = window_sums(&value, s, k);
    m.color = areas(&pick(3, s, k, &cs, true), k);
    m.gray = areas(&pick(3, s, k, &cs, false), k);
    m.bright = areas(&pick(3, s, k, &ls, true), k);
    m.dark = areas(&pick(3, s, k, &ls, false), k);

    // The edge map: Sobel over the Lab distances, scaled to 0..255.
    let lab: Vec<f64> = img.iter().map(|&p| lab_distance(p)).collect();
    let at = |x: u32, y: u32| lab[(y * s + x) as usize];
    let mut strength = vec![0u32; n];
    let mut max = 0;
    for y in 1..s - 1 {
        for x in 1..s - 1 {
            let mut gx = at(x - 1, y - 1);
            gx += 2.0 * at(x - 1, y);
            gx += at(x - 1, y + 1);
            gx -= at(x + 1, y - 1);
            gx -= 2.0 * at(x + 1, y);
            gx -= at(x + 1, y + 1);
            let mut gy = at(x - 1, y - 1);
            gy += 2.0 * at(x, y - 1);
            gy += at(x + 1, y - 1);
            gy -= at(x - 1, y + 1);
            gy -= 2.0 * at(x, y + 1);
            gy -= at(x + 1, y + 1);
            let e = (gx * gx + gy * gy).sqrt() as u32;
            strength[(y * s + x) as usize] = e;
            max = max.max(e);
        }
    }
    // What the blur reads: the scaled strength, or (for an image with no
    // edge at all) the blue of its colours; 0 on the border.
    let mut e = vec![0u32; n];
    for y in 1..s - 1 {
        for x in 1..s - 1 {
            let i = (y * s + x) as usize;
            e[i] =
                (strength[i] * 255).checked_div(max).unwrap_or(img[i] & 0xff);
        }
    }
    let mut hb = vec![0u32; n];
    for y in 1..s - 1 {
        for x in 1..s - 1 {
            let i = (y * s + x) as usize;
            hb[i] = (e[i - 1] + 2 * e[i] + e[i + 1]) / 4;
        }
    }
    // The vertical pass reads the row above after blurring it.
    let mut blur = vec![0u32; n];
    for y in 1..s - 1 {
        for x in 1..s - 1 {
            let i = (y * s + x) as usize;
            let above = if y - 1 == 0 { 0 } else { blur[i - s as usize] };
            let below = if y + 1 == s - 1 { 0 } else { hb[i + s as usize] };
            blur[i] = (above + 2 * hb[i] + below) / 4;
        }
    }
    let es = window_sums(&blur, s, k);
    let wanted = if bw { 6 } else { 3 };
    let edge = pick(wanted, s, k, &es, true);
    let noedge = pick(wanted, s, k, &es, false);
    m.edge = areas(&edge, k);
    m.noedge = areas(&noedge, k);
    if bw {
        for i in 0..3 {
            let (x, y) = (edge[i + 3].1, edge[i + 3].2);
            m.color[i] = Area { avg: edge[i + 3].0 / (k * k), x, y };
            // The positions of the edge list, as ClamAV takes them.
            m.gray[i] = Area { avg: noedge[i + 3].0 / (k * k), x, y };
        }
    }
    m
}

/// How many of three (or six) areas lie close to one of the other's and
/// are alike, scored 40 to 100 each by distance, averaged.
fn match_points(a: &[Area], b: &[Area], limit: u32, side: u32) -> u32 {
    let t = 3 * (side / 4) / 4;
    let mut total = 0;
    for p in a {
        let mut best = 0;
        for q in b {
            let (dx, dy) = (
                i64::from(p.x) - i64::from(q.x),
                i64::from(p.y) - i64::from(q.y),
            );
            let dist = ((dx * dx + dy * dy) as f64).sqrt() as u32;
            if dist > t || p.avg.abs_diff(q.avg) > limit / 5 {
                continue;
            }
            best = best.max(100 - dist * 60 / t);
        }
        total += best;
    }
    total / a.len() as u32
}

/// Whether the icon `m` matches signature `sig` of its size class, as
/// ClamAV decides: a confidence of 70 for black-and-white icons, 72, 68
/// or 64 (16, 24, 32 pixels) otherwise.
pub(crate) fn matches(m: &Metrics, sig: &Metrics) -> bool {
    let s = m.side;
    let pts =
        |a: &[Area; 3], b: &[Area; 3], limit| match_points(a, b, limit, s);
    let bright = pts(&m.bright, &sig.bright, 255);
    let dark = pts(&m.dark, &sig.dark, 255);
    if m.ccount == 0 && sig.ccount == 0 {
        let six = |a: &[Area; 3], b: &[Area; 3]| {
            let mut v = a.to_vec();
            v.extend(b);
            v
        };
        let edge = match_points(
            &six(&m.edge, &m.color),
            &six(&sig.edge, &sig.color),
            255,
            s,
        );
        let noedge = match_points(
            &six(&m.noedge, &m.gray),
            &six(&sig.noedge, &sig.gray),
            255,
            s,
        );
        return (bright + dark + 2 * edge + noedge) / 6 >= 70;
    }
    let edge = pts(&m.edge, &sig.edge, 255);
    let noedge = pts(&m.noedge, &sig.noedge, 255);
    let (color, gray) = if m.ccount != 0 && sig.ccount != 0 {
        (pts(&m.color, &sig.color, 4072), pts(&m.gray, &sig.gray, 4072))
    } else {
        (0, 0)
    };
    let spread = |a: u32, b: u32| {
        let d = a.abs_diff(b).saturating_mul(10);
        100u32.saturating_sub(d)
    };
    let colors = (spread(m.rsum, sig.rsum)
        + spread(m.gsum, sig.gsum)
        + spread(m.bsum, sig.bsum)
        + spread(m.ccount, sig.ccount))
        / 4;
    let conf =
        (color + 2 * (gray + bright + noedge) / 3 + dark + edge + colors) / 6;
    conf >= 64 + 4 * (2 - m.bucket() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE whose resources (at RVA 0x2000, file offset 0x400) are
    /// `tree`.
    fn with_resources(tree: &[u8]) -> Vec<u8> {
        let mut f = crate::pe::tests::tiny_pe();
        let size = tree.len().div_ceil(0x200) * 0x200;
        f.truncate(0x400);
        f.extend(tree);
        f.resize(0x400 + size, 0);
        let opt = 0x84 + 20;
        let le32 = |f: &mut Vec<u8>, at: usize, v: u32| {
            f[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        le32(&mut f, opt + 56, 0x2000 + size as u32); // SizeOfImage
        le32(&mut f, opt + 96 + 16, 0x2000);
        le32(&mut f, opt + 96 + 20, tree.len() as u32);
        let data = opt + 0xe0 + 40;
        le32(&mut f, data + 8, size as u32);
        le32(&mut f, data + 16, size as u32);
        f
    }

    fn dir(out: &mut Vec<u8>, entries: impl Iterator<Item = (u32, u32)>) {
        let e: Vec<(u32, u32)> = entries.collect();
        out.extend([0u8; 14]);
        out.extend((e.len() as u16).to_le_bytes());
        for (id, to) in e {
            out.extend(id.to_le_bytes());
            out.extend(to.to_le_bytes());
        }
    }

    /// Icon directories whose 60,000 entries all point at one directory
    /// of 60,000 entries: the walk reads a bounded number of them.
    #[test]
    fn looping_resource_directories_are_walked_within_bounds() {
        const SUB: u32 = 0x8000_0000;
        const N: u32 = 60_000;
        let names = 0x100u32;
        let langs = names + 16 + 8 * N;
        let data = langs + 16 + 8 * N;
        for to_data in [false, true] {
            let mut t = Vec::new();
            dir(&mut t, [(RT_ICON, SUB | names)].into_iter());
            t.resize(names as usize, 0);
            dir(&mut t, (0..N).map(|_| (1, SUB | langs)));
            // Subdirectories (passed over) or data entries (each one a
            // result).
            let lang = if to_data { data } else { SUB | data };
            dir(&mut t, (0..N).map(|_| (0x409, lang)));
            t.extend([0u8; 16]);
            let f = with_resources(&t);
            let map = {
                let pe_at = crate::pe::pe_offset(&f).unwrap();
                let h = Header::parse_without_dos(&f[pe_at..]).unwrap();
                let opt = h.optional_header.unwrap();
                let mut at = SIZEOF_PE_MAGIC
                    + SIZEOF_COFF_HEADER
                    + h.coff_header.size_of_optional_header as usize;
                let table =
                    h.coff_header.sections(&f[pe_at..], &mut at).unwrap();
                AddressMap::new(f.len(), &table, &opt)
            };
            let walk = Walk { data: &f, map: &map, root: 0x2000 };
            let found = walk.find(RT_ICON, Some(1));
            assert_eq!(found.len(), if to_data { MAX_ENTRIES } else { 0 });
            assert!(icons(&f).is_empty());
        }
    }

    #[test]
    fn a_plain_square_is_black_and_white_with_its_areas_at_the_start() {
        let img = vec![0xff00_0000u32; 256];
        let m = metrics(&img, 16);
        assert_eq!(m.ccount, 0);
        assert_eq!(m.hex().len(), 124);
        assert!(matches(&m, &m));
    }
}
