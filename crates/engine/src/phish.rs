//! The phishing check of mail links, as ClamAV 1.4's mail reader runs it
//! (`PhishingScanURLs`): each link of a text part is taken as the URL it
//! goes to (real) and what the reader is shown (display). When the shown
//! text is itself a URL on a listed domain (`.pdb` `H:`/`R:`) and the
//! link goes to another registered domain, the mail is
//! `Heuristics.Phishing.Email.SpoofedDomain`; links on the allow list
//! (`.wdb`) never alert.
//!
//! Written from ClamAV's behaviour (checked link by link against
//! clamscan), quirks included where they decide a verdict: only
//! lower-case `http:`/`https:`/`ftp:` links are checked, a shown URL
//! must end in a top-level domain of ClamAV's 2009 list, the shown text
//! keeps its entities, and `Cloaked.Username`/`Cloaked.NumericIP` never
//! fire (their checks see the host with a leading dot). URL hashes
//! (`.gdb` `S:` lines) are counted as unsupported, not matched.

use crate::heur::Heuristics;
use crate::html::Link;
use crate::module::phish::{Patterns, PhishLists};

/// ClamAV's top-level domain list (`iana_tld.h`).
const GENERIC_TLDS: &[&str] = &[
    "aero",
    "arpa",
    "asia",
    "biz",
    "cat",
    "com",
    "coop",
    "edu",
    "gov",
    "info",
    "int",
    "jobs",
    "mil",
    "mobi",
    "museum",
    "name",
    "net",
    "org",
    "pro",
    "tel",
    "travel",
    "xn--0zwm56d",
    "xn--11b5bs3a9aj6g",
    "xn--80akhbyknj4f",
    "xn--9t4b11yi5a",
    "xn--deba0ad",
    "xn--g6w251d",
    "xn--hgbk6aj7f53bba",
    "xn--hlcj6aya9esc7a",
    "xn--jxalpdlp",
    "xn--kgbechtv",
    "xn--zckzah",
];

/// The two-letter codes of both of ClamAV's lists.
const CC: &str = "ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr st su sv sy sz tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt yu za zm zw";

/// Country codes only in the country-code list (`iana_cctld.h`).
const CC_ONLY: &[&str] = &["bl", "eh", "mf", "um"];

fn in_tld_set(label: &[u8]) -> bool {
    let Ok(l) = std::str::from_utf8(label) else { return false };
    (l.len() == 2 && CC.split(' ').any(|c| c == l))
        || GENERIC_TLDS.contains(&l)
}

fn in_cctld_set(label: &[u8]) -> bool {
    let Ok(l) = std::str::from_utf8(label) else { return false };
    l.len() == 2 && (CC.split(' ').any(|c| c == l) || CC_ONLY.contains(&l))
}

/// A finding, named as ClamAV names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phish {
    SpoofedDomain,
    SslSpoof,
    CloakedNull,
}

impl Phish {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phish::SpoofedDomain => "Heuristics.Phishing.Email.SpoofedDomain",
            Phish::SslSpoof => "Heuristics.Phishing.Email.SSL-Spoof",
            Phish::CloakedNull => "Heuristics.Phishing.Email.Cloaked.Null",
        }
    }
}

const CHECK_SSL: u8 = 1;
const CHECK_CLOAK: u8 = 2;
const CHECK_IMG: u8 = 8;

/// The first finding among a part's links.
pub(crate) fn check(
    lists: &PhishLists,
    links: &[Link],
    h: &Heuristics,
) -> Option<Phish> {
    let always = if h.phishing_ssl { CHECK_SSL } else { 0 }
        | if h.phishing_cloak { CHECK_CLOAK } else { 0 };
    links.iter().find_map(|l| {
        let mut flags = CHECK_CLOAK | CHECK_IMG;
        if l.tag == "href" {
            flags |= CHECK_SSL;
        }
        // Every link but an `<a href>` names what is shown first.
        let (real, display) = if l.tag == "href" {
            (
                Some(l.value.as_slice()),
                l.contents.as_deref().unwrap_or_default(),
            )
        } else {
            (l.contents.as_deref(), l.value.as_slice())
        };
        link(lists, real?, display, flags, always, l.tag == "src")
    })
}

fn link(
    lists: &PhishLists,
    real: &[u8],
    display: &[u8],
    mut flags: u8,
    always: u8,
    image: bool,
) -> Option<Phish> {
    if !is_url(&mut real.to_vec(), false) {
        return None;
    }
    if real == display || display.is_empty() {
        return None;
    }
    let r = cleanup(real, true)?.0;
    let (mut d, pre) = cleanup(display, false)?;
    if r == d || !is_url(&mut d, true) {
        return None;
    }
    if in_list(&lists.allow, &r, &d) {
        return None;
    }
    let mut listed = in_list(&lists.domain, &r, &d);
    let (ds, de) = host(&d, false)?;
    let mut dhost = [b".", &d[ds..de]].concat();
    if dhost.contains(&b' ') {
        return None;
    }
    let (rs, re) = host(&r, true)?;
    let rhost = [b".", &r[rs..re]].concat();
    if rhost.windows(2).any(|w| w == b"..") || rhost.contains(&b' ') {
        return None;
    }
    let pre = &pre[..de.min(pre.len())];
    if in_list(&lists.allow, &rhost, &dhost) {
        return None;
    }
    if host_listed(&lists.domain, &mut dhost, pre, ds) {
        listed = true;
    } else {
        flags &= always;
    }
    if image && flags & CHECK_IMG == 0 {
        return None;
    }
    if flags & CHECK_CLOAK != 0 && r.contains(&1) {
        return Some(Phish::CloakedNull);
    }
    if flags & CHECK_SSL != 0
        && d.starts_with(b"https:")
        && !r.starts_with(b"https:")
    {
        return Some(Phish::SslSpoof);
    }
    if !listed || domain(&rhost) == domain(&dhost) {
        return None;
    }
    Some(Phish::SpoofedDomain)
}

/// The registered domain of a host as ClamAV guesses it: the last two
/// labels, three under a country code whose second level is a generic
/// top-level name (`x.co.uk`).
fn domain(host: &[u8]) -> &[u8] {
    let Some(t) = host.iter().rposition(|&b| b == b'.') else { return host };
    let mut tld = t;
    if in_cctld_set(&host[t + 1..]) {
        let Some(t2) = host[..t].iter().rposition(|&b| b == b'.') else {
            return host;
        };
        if !in_tld_set(&host[t2 + 1..t]) {
            return &host[t2 + 1..];
        }
        tld = t2;
    }
    match host[..tld].iter().rposition(|&b| b == b'.') {
        Some(d) => &host[d + 1..],
        None => host,
    }
}

/// Where the host of a (cleaned) URL lies: after `://` (or `mailto:`),
/// after the last `@` before the path, up to `:`, `/` or `?`. A real
/// link to `mailto:` is no web link: `None`.
fn host(url: &[u8], real: bool) -> Option<(usize, usize)> {
    let mut start = if let Some(p) = find(url, b"://") {
        p + 3
    } else if url.starts_with(b"mailto:") {
        if real {
            return None;
        }
        7
    } else {
        0
    };
    let stop = |s: usize| {
        s + url[s..]
            .iter()
            .position(|b| matches!(b, b':' | b'/' | b'?'))
            .unwrap_or(url.len() - s)
    };
    loop {
        let end = stop(start);
        let Some(at) = url[start..].iter().position(|&b| b == b'@') else {
            return Some((start, end));
        };
        let at = start + at;
        if start != end && at > end {
            return Some((start, end));
        }
        start = at + 1;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// ClamAV's `isURL`: a lower-case `http:`, `https:` or `ftp:` with `//`
/// is a URL; otherwise the host part must be dotted labels ending in a
/// known top-level domain. `any_scheme` (for shown text) accepts any
/// scheme and cuts a host that runs on past a known top-level domain
/// (`www.paypal.com.evil.zz` reads as `www.paypal.com`).
fn is_url(url: &mut Vec<u8>, any_scheme: bool) -> bool {
    let lead = url.iter().take_while(|&&b| b == b' ').count();
    let u = &url[lead..];
    let proto = [&b"https:"[..], b"http:", b"ftp:"]
        .into_iter()
        .find(|p| u.starts_with(p))
        .map(|p| p.len() - 1);
    if let Some(c) = proto
        && u.get(c + 1) == Some(&b'/')
        && u.get(c + 2) == Some(&b'/')
    {
        return true;
    }
    let colon =
        if any_scheme { u.iter().position(|&b| b == b':') } else { proto };
    let mut start = 0;
    let mut has_proto = false;
    if let Some(c) = colon {
        let ialpha = c > 0
            && u[0].is_ascii_alphabetic()
            && u[1..c].iter().all(|&b| xalpha(b));
        if ialpha {
            start = if u.get(c + 1) == Some(&b'/') {
                if u.get(c + 2) == Some(&b'/') { c + 3 } else { c + 2 }
            } else {
                c + 1
            };
            has_proto = true;
        }
    }
    let start = start.min(u.len());
    let end = u[start..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(u.len(), |e| start + e);
    let mut p = start;
    if !has_proto && let Some(q) = u[p..end].iter().position(|&b| b == b'@') {
        // An e-mail address is no URL, unless it is `x.TLD@host`.
        let q = p + q;
        let mut q2 = q.saturating_sub(1);
        while q2 > p && u[q2] != b'.' {
            q2 -= 1;
        }
        if q2 == p || !in_tld_set(&u[q2 + 1..q]) {
            return false;
        }
    }
    let mut last_tld_end = None;
    while let Some(q) = u[p..].iter().position(|&b| b == b'.').map(|q| p + q) {
        if q > end {
            break;
        }
        if q == p || !u[p..q].iter().all(|&b| xpalpha(b)) {
            return false;
        }
        if any_scheme && in_tld_set(&u[p..q]) {
            last_tld_end = Some(q);
        }
        p = q + 1;
    }
    if p == start {
        return false;
    }
    let mut e = end.max(p);
    while e > p && u.get(e) == Some(&b' ') {
        e -= 1;
    }
    if in_tld_set(&u[p..e]) {
        return true;
    }
    if !any_scheme {
        return false;
    }
    match last_tld_end {
        Some(t) => {
            url.truncate(lead + t);
            true
        }
        None => false,
    }
}

fn xalpha(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!\"$%&'()*,-@_".contains(&b)
}

fn xpalpha(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!\"#$%&'()*+,-@_".contains(&b)
}

/// ClamAV's clean-up of a link before comparing: seven-bit, control
/// bytes as spaces, trimmed; cut after the host (lowered); `<>";` as
/// spaces, `&lt`/`&gt` dropped, `%XX` decoded (`%00` as 0x01, the mark
/// of a cloaked link). A real URL loses every space; shown text is also
/// kept before that (its spaces mark word breaks) and loses leading and
/// trailing punctuation. `None`: nothing left.
fn cleanup(url: &[u8], real: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let v: Vec<u8> = url
        .iter()
        .map(|&b| match b & 0x7f {
            c if c < 0x20 => b' ',
            c => c,
        })
        .collect();
    let b = v.iter().position(|&c| c != b' ')?;
    let mut v = v[b..].to_vec();
    if v.len() <= 1 {
        return None;
    }
    let mut end = v.iter().rposition(|&c| c != b' ')?;
    if v.starts_with(b".net")
        || v.starts_with(b"ado.net")
        || v.starts_with(b"asp.net")
    {
        return None;
    }
    for c in &mut v[..=end] {
        if *c == b'\\' {
            *c = b'/';
        }
    }
    let hb = match v.iter().position(|&c| c == b':') {
        Some(mut c) => {
            while c < end && v.get(c + 1) == Some(&b'/') {
                c += 1;
            }
            c + 1
        }
        None => 0,
    };
    let host_len = v[hb.min(v.len())..]
        .iter()
        .position(|c| matches!(c, b':' | b'/' | b'?'))
        .unwrap_or(v.len().saturating_sub(hb));
    if hb + host_len <= end + 1 {
        end = (hb + host_len).wrapping_sub(1);
    }
    v.truncate(end.wrapping_add(1).min(v.len()));
    let hl = v.len();
    v[hb.min(hl)..].make_ascii_lowercase();
    for c in &mut v {
        if matches!(c, b'<' | b'>' | b'"' | b';') {
            *c = b' ';
        }
    }
    strip(&mut v, b"&lt");
    strip(&mut v, b"&gt");
    hex_decode(&mut v);
    if real {
        strip(&mut v, b" ");
        return Some((v, Vec::new()));
    }
    let s = v.iter().position(|&c| c != b' ').unwrap_or(v.len());
    let e = v.iter().rposition(|&c| c != b' ').map_or(s, |e| e + 1);
    let pre = v[s..e.max(s)].to_vec();
    let mut d = pre.clone();
    strip(&mut d, b" ");
    let s = d.iter().position(|c| c.is_ascii_alphanumeric());
    let d = match s {
        None => Vec::new(),
        Some(s) => {
            let mut e =
                d.iter().rposition(|c| c.is_ascii_alphanumeric()).unwrap_or(s);
            if d.get(e + 1) == Some(&b'/') {
                e += 1;
            }
            d[s..=e].to_vec()
        }
    };
    Some((d, pre))
}

/// Removes `what` where it leads, trails, or stands inside; inside, not
/// where it would reach the last byte, as ClamAV's loop stops short.
fn strip(v: &mut Vec<u8>, what: &[u8]) {
    let n = what.len();
    if v.len() < n {
        return;
    }
    let mut s = 0;
    while v[s..].starts_with(what) {
        s += n;
    }
    let mut e = v.len();
    if s < e && n < e - s {
        while e > s + n && &v[e - n..e] == what {
            e -= n;
        }
    }
    let mut b = v[s.min(e)..e].to_vec();
    let mut i = 1;
    while i + n < b.len() {
        while i + n < b.len() && b[i..].starts_with(what) {
            b.drain(i..i + n);
        }
        i += 1;
    }
    *v = b;
}

fn hex(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

fn hex2(a: u8, b: u8) -> u8 {
    if a == b'0' && b == b'0' { 1 } else { hex(a) << 4 | hex(b) }
}

/// `%XX` decoded until none is left that decoding made; a `%XX` that
/// ends the text stays, as ClamAV's loop stops one short.
fn hex_decode(v: &mut Vec<u8>) {
    if v.len() <= 2 {
        return;
    }
    if v[0] == b'%' {
        v[2] = hex2(v[1], v[2]);
        v.drain(..2);
    }
    loop {
        let mut again = false;
        let mut i = 1;
        while i + 3 < v.len() {
            if v[i] == b'%'
                && v[i + 1].is_ascii_hexdigit()
                && v[i + 2].is_ascii_hexdigit()
            {
                v[i] = hex2(v[i + 1], v[i + 2]);
                again |= v[i] == b'%';
                v.drain(i + 1..i + 3);
            }
            i += 1;
        }
        if !again {
            break;
        }
    }
}

/// A lookup of `real:display/` (or, for a host, as given) in a list: a
/// regex anywhere, a literal at the end on a label boundary.
fn in_list(list: &Patterns, real: &[u8], display: &[u8]) -> bool {
    if list.is_empty() {
        return false;
    }
    let real = real.strip_prefix(b".").unwrap_or(real);
    let display = display.strip_prefix(b".").unwrap_or(display);
    let buf = [real, b":", display, b"/"].concat();
    if buf.len() < 3 {
        return false;
    }
    list.regex_match(&buf)
        || list.literals.iter().any(|l| {
            find(&buf, l).is_some()
                && (l.len() == buf.len()
                    || (l.len() < buf.len()
                        && matches!(
                            buf[buf.len() - l.len() - 1],
                            b'.' | b' '
                        )))
        })
}

/// The domain list looked up by the shown host alone (`H:` lines). The
/// label boundary is read from the shown text with its spaces, so that
/// `visit paypal.com` is on `paypal.com` (and the host then reads
/// `visit.paypal.com`).
fn host_listed(
    list: &Patterns,
    dhost: &mut Vec<u8>,
    pre: &[u8],
    host_start: usize,
) -> bool {
    if list.is_empty() {
        return false;
    }
    let h = dhost.strip_prefix(b".").unwrap_or(dhost);
    let buf = [h, b"/"].concat();
    if buf.len() < 3 {
        return false;
    }
    if list.regex_match(&buf) {
        return true;
    }
    for n in list.literal_suffixes(&buf) {
        let full = n == buf.len();
        let sub = n < buf.len()
            && matches!(
                char_in_pre(pre, host_start, buf.len() - n),
                b'.' | b' '
            );
        if !(full || sub) {
            continue;
        }
        let m = n - 1;
        let hl = dhost.len() - 1;
        if hl > m && dhost[1 + hl - m - 1] != b'.' {
            // Mark the word break as a label break.
            let n = dhost.len();
            let k = n - m - 1;
            let mut v = dhost[1..=k].to_vec();
            v.push(b'.');
            v.extend_from_slice(&dhost[k + 1..]);
            *dhost = v;
        }
        return true;
    }
    false
}

/// The byte before the `pos`-th byte of the shown host, counted in the
/// shown text without its spaces but read from it with them.
fn char_in_pre(pre: &[u8], host_start: usize, pos: usize) -> u8 {
    let mut pos = pos + host_start;
    let mut r = pre
        .iter()
        .position(|c| c.is_ascii_alphanumeric())
        .unwrap_or(pre.len());
    while r < pre.len() && pos > 0 {
        while r < pre.len() && pre[r] == b' ' {
            r += 1;
        }
        r += 1;
        pos -= 1;
    }
    while r < pre.len() && pre[r] == b' ' {
        r += 1;
    }
    if pos > 0 && r >= pre.len() {
        return 0;
    }
    pre.get(r.saturating_sub(1)).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(domain: &[&str], allow: &[&str]) -> PhishLists {
        let mk = |l: &[&str]| {
            let mut p = Patterns::default();
            for s in l {
                if let Some(r) = s.strip_prefix("R:") {
                    p.each.push(
                        regex::bytes::Regex::new(&format!("{r}/")).unwrap(),
                    );
                } else {
                    p.add_literal(format!("{s}/").into_bytes());
                }
            }
            p
        };
        PhishLists { domain: mk(domain), allow: mk(allow) }
    }

    fn verdict(l: &PhishLists, html: &str) -> Option<&'static str> {
        // As a mail body: a page ends with more than its last tag.
        let page = format!("<html><body>{html}</body></html>\n");
        check(l, &crate::html::links(page.as_bytes()), &Heuristics::default())
            .map(Phish::name)
    }

    /// Each case was run through clamscan 1.4.6 with `H:paypal.com`.
    #[test]
    fn links_as_clamscan_judges_them() {
        let l = lists(&["paypal.com"], &[]);
        let spoof = Some("Heuristics.Phishing.Email.SpoofedDomain");
        for (html, want) in [
            (
                "<a href=\"http://evil.example/x\">http://www.paypal.com/</a>",
                spoof,
            ),
            (
                "<a href=\"HTTP://evil.example/x\">http://www.paypal.com/</a>",
                None,
            ),
            (
                "<a href=\"http://evil.example/x\">Click here to log in to PayPal</a>",
                None,
            ),
            (
                "<a href=\"http://evil.example/x\">Log in at www.paypal.com</a>",
                spoof,
            ),
            ("<a href=\"http://evil.example/x\">www.paypal.com:443</a>", None),
            (
                "<a href=\"http://evil.example/x\">www&#46;paypal&#46;com</a>",
                None,
            ),
            ("<a href=\"http://evil.example/x\">www.paypal.online</a>", None),
            (
                "<a href=\"http://login.paypal.com/x\">http://www.paypal.com/</a>",
                None,
            ),
            (
                "<a href=\"http://www.paypal.com/\">https://www.paypal.com/</a>",
                Some("Heuristics.Phishing.Email.SSL-Spoof"),
            ),
            (
                "<a href=\"http://www.paypal.com@evil.example/\">www.paypal.com</a>",
                spoof,
            ),
            ("<a href=\"http://1.2.3.4/\">www.paypal.com</a>", spoof),
            (
                "<a href=\"http://www.paypal.com%00@evil.example/\">www.paypal.com</a>",
                Some("Heuristics.Phishing.Email.Cloaked.Null"),
            ),
            (
                "<a href=\"http://evil.example/\" title=\"www.paypal.com\">x</a>",
                spoof,
            ),
            ("<a href=\"http://evil.example/x\">(www.paypal.com)</a>", spoof),
            ("<a href=\"http://evil.example/x\">WWW.PAYPAL.COM</a>", spoof),
            (
                "<a href=\"http://evil.example/x\">www.paypal.com?x=1</a>",
                spoof,
            ),
            ("<a href=\"http://evil.example/x\">paypal.com@foo</a>", None),
            ("<a href=\"http://evil.example/x\">visit paypal.com</a>", spoof),
            ("<a href=\"http://evil.example/x\">www.mypaypal.com</a>", None),
            (
                "<a href=\"http://evil.example/x\">www.<b>pay</b>pal.com</a>",
                spoof,
            ),
            (
                "<a href=\"http://evil.example/x\"><img src=\"http://www.paypal.com/x.gif\"></a>",
                spoof,
            ),
            (
                "<form action=\"http://evil.example/\"><a href=\"http://www.paypal.com/\">x</a></form>",
                spoof,
            ),
            (
                "<a href=\"http://evil.example/x\">www.paypal.com.evil.zz</a>",
                spoof,
            ),
        ] {
            assert_eq!(verdict(&l, html), want, "{html}");
        }
        let allowed = lists(&["paypal.com"], &["evil.example:www.paypal.com"]);
        assert_eq!(
            verdict(
                &allowed,
                "<a href=\"http://evil.example/x\">http://www.paypal.com/</a>"
            ),
            None
        );
    }

    #[test]
    fn clean_up_as_clamav() {
        let c = |s: &str, real| {
            cleanup(s.as_bytes(), real)
                .map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
        };
        assert_eq!(
            c("http://Evil.Example/Path?x", true).as_deref(),
            Some("http://evil.example")
        );
        assert_eq!(
            c(" (WWW.PayPal.com) ", false).as_deref(),
            Some("www.paypal.com")
        );
        assert_eq!(c("x", false), None);
        // Found by fuzzing: what to strip at both ends of a short text.
        assert_eq!(c("&gt/,/www.p", false).as_deref(), Some(""));
        let mut v = b"a&lt&lt".to_vec();
        strip(&mut v, b"&lt");
        assert_eq!(v, b"a");
        assert_eq!(
            c("http://a%2541.com/", true).as_deref(),
            Some("http://aA.com")
        );
        assert_eq!(domain(b".www.paypal.com"), b"paypal.com");
        assert_eq!(domain(b".shop.amazon.co.uk"), b"amazon.co.uk");
        assert_eq!(domain(b".www.amazon.de"), b"amazon.de");
        assert_eq!(domain(b".evil.example"), b"evil.example");
    }
}
