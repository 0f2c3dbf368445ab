use super::mail::*;
use super::*;

#[test]
fn long_mail_lines_are_cut_as_clamav_reads_them() {
    let line = vec![b'x'; 2 * MAIL_LINE + 5];
    let body = [&b"a\n"[..], &line, b"\nb"].concat();
    let cut = cut_long_lines(&body);
    let lines: Vec<usize> =
        cut.split(|&b| b == b'\n').map(<[u8]>::len).collect();
    assert_eq!(lines, [1, MAIL_LINE, MAIL_LINE, 5, 1]);
    // A line that fills its last piece exactly leaves an empty one.
    let exact = [&vec![b'y'; MAIL_LINE][..], b"\nz"].concat();
    let lines: Vec<usize> = cut_long_lines(&exact)
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .collect();
    assert_eq!(lines, [MAIL_LINE, 0, 1]);
    assert!(matches!(
        cut_long_lines(b"short\n"),
        std::borrow::Cow::Borrowed(_)
    ));
}

/// Collects children, as a scanner that finds nothing would see them.
pub(super) struct Collect {
    budget: Budget,
    pub(super) children: Vec<(String, Vec<u8>)>,
    pub(super) alerts: Vec<Heur>,
    /// Each mailbox message announced: its number, the index of its
    /// first child, and its first line when it ended.
    messages: Vec<(usize, usize, String)>,
}

impl Sink for Collect {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }
    fn child(&mut self, name: String, data: Vec<u8>) -> bool {
        self.children.push((name, data));
        false
    }
    fn alert(&mut self, h: Heur) {
        self.alerts.push(h);
    }
    fn wants(&self, _h: Heur) -> bool {
        true
    }
    fn message_start(&mut self, number: usize) {
        self.messages.push((number, self.children.len(), String::new()));
    }
    fn message_end(&mut self, message: &[u8], stopped: bool) -> bool {
        let first = message.split(|&b| b == b'\n').next().unwrap();
        self.messages.last_mut().unwrap().2 =
            String::from_utf8_lossy(first).into_owned();
        stopped
    }
}

pub(super) fn collect(b: Budget) -> Collect {
    Collect {
        budget: b,
        children: Vec::new(),
        alerts: Vec::new(),
        messages: Vec::new(),
    }
}

pub(super) fn budget() -> Budget {
    Budget { max_file: 1 << 20, bytes_left: 1 << 22, files_left: 100 }
}

#[test]
fn html_data_uris_base64_only() {
    let page = b"<p>x</p><A HREF=\"DATA:application/octet-stream;BASE64,QUJD\nREVG\">a</A>\
                 <img src='data:image/png;base64,R0lG'><a href=\"data:text/plain,plain\">";
    let mut c = collect(budget());
    html_data_uris(page, &mut c);
    let got: Vec<&[u8]> =
        c.children.iter().map(|(_, d)| d.as_slice()).collect();
    assert_eq!(got, vec![&b"ABCDEF"[..], &b"GIF"[..]]);
}

#[test]
fn mime_parts_and_mbox() {
    let mail = b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhello\n--XX\nContent-Type: application/octet-stream; name=x.bin\nContent-Transfer-Encoding: base64\n\nQUJDRA==\n--XX--\n\nFrom b@c Sat Jan  1 00:00:00 2000\nFrom: b\n\nsecond\n";
    let u = mail_parts(mail);
    let names: Vec<_> = u.iter().map(|c| c.0.as_str()).collect();
    assert!(names.contains(&"x.bin"), "{names:?}");
    assert!(u.iter().any(|c| c.1 == b"ABCD"));
    assert!(u.iter().any(|c| c.1.starts_with(b"second")));
}

#[test]
fn parts_a_strict_reader_loses_are_read_as_clamav_reads_them() {
    // QUJDRA== is "ABCD".
    for mail in [
        // A multipart without a boundary, or with one nowhere: text,
        // in which an attachment is found by its headers (a bounce).
        &b"From: a\nContent-Type: multipart/mixed\n\n--x\n\
           Content-Type: application/octet-stream\n\
           Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n"[..],
        b"From: a\nContent-Type: multipart/mixed; boundary=y\n\n--x\r\n\
           Content-Type: x/y; name=a\rContent-Transfer-Encoding: BASE64\r\n\r\n\
           QUJDRA==\r\n--x--\r\n",
        // The parameters on a line of their own, not indented.
        b"From: a\nContent-Type: multipart/mixed;\nboundary=x\n\n--x\n\
           Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
        // A blank line inside a part's headers.
        b"From: a\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
           Content-Type: application/octet-stream\n\n\
           Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
        b"From: a\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
           Content-Type: application/octet-stream;\n\n\
           filename=a\nContent-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
    ] {
        let got = mail_parts(mail);
        // (What follows the data in a bounce is decoded with it.)
        assert!(
            got.iter().any(|c| c.1.starts_with(b"ABCD")),
            "{}: {got:?}",
            String::from_utf8_lossy(mail)
        );
    }
    // A line saying 7bit is no encoding to find.
    assert!(bounce(b"text\nContent-Transfer-Encoding: 7bit\n\nx").is_none());
    assert!(bounce(b"x-Content-Transfer-Encoding: base64\n").is_none());
    assert_eq!(
        bounce(b"a\rcontent-transfer-encoding: base64\n\nQUJD"),
        Some(&b"content-transfer-encoding: base64\n\nQUJD"[..])
    );
}

/// Three messages, the second with two parts.
const MBOX: &[u8] = b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\n\nfirst STOP\n\n\
    From b@c Sat Jan  1 00:00:00 2000\nFrom: b\nContent-Type: multipart/mixed; boundary=B\n\n\
    --B\n\nsecond STOP\n--B\n\nsecond, part 2\n--B--\n\n\
    From c@d Sat Jan  1 00:00:00 2000\nFrom: c\n\nthird\n";

#[test]
fn mbox_messages_are_announced_with_their_parts() {
    let mut c = collect(budget());
    mail(MBOX, &mut c);
    let starts: Vec<(usize, usize, &str)> =
        c.messages.iter().map(|(n, i, l)| (*n, *i, l.as_str())).collect();
    assert_eq!(
        starts,
        [(1, 0, "From: a"), (2, 1, "From: b"), (3, 3, "From: c")]
    );
    assert_eq!(c.children.len(), 4);
    // A lone message, mbox `From ` line or not, is not announced.
    let mut c = collect(budget());
    mail(b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\n\nhello\n", &mut c);
    assert!(c.messages.is_empty());
    assert_eq!(c.children.len(), 1);
}

/// Stops at a child holding `STOP`; goes on to the next message
/// after one when `each`.
struct Stopper {
    budget: Budget,
    seen: Vec<String>,
    each: bool,
}

impl Sink for Stopper {
    fn budget(&mut self) -> &mut Budget {
        &mut self.budget
    }
    fn child(&mut self, _name: String, data: Vec<u8>) -> bool {
        self.seen.push(String::from_utf8_lossy(&data).trim().to_string());
        memchr::memmem::find(&data, b"STOP").is_some()
    }
    fn alert(&mut self, _h: Heur) {}
    fn wants(&self, _h: Heur) -> bool {
        false
    }
    fn message_end(&mut self, _message: &[u8], stopped: bool) -> bool {
        stopped && !self.each
    }
}

#[test]
fn a_finding_ends_its_message_and_the_sink_says_if_the_mbox_goes_on() {
    let walk = |each: bool, files: u32| {
        let b = Budget { files_left: files, ..budget() };
        let mut s = Stopper { budget: b, seen: Vec::new(), each };
        let u = mail(MBOX, &mut s);
        let skipped = u.skipped;
        (s.seen, skipped)
    };
    assert_eq!(walk(false, 100), (vec!["first STOP".to_string()], None));
    // The rest of the second message is left, not the third message.
    assert_eq!(
        walk(true, 100),
        (
            vec![
                "first STOP".to_string(),
                "second STOP".into(),
                "third".into()
            ],
            None
        )
    );
    // MaxFiles still ends the whole walk.
    let (seen, skipped) = walk(true, 2);
    assert_eq!(seen, ["first STOP", "second STOP"]);
    assert_eq!(skipped, Some(Reason::FilesLimit));
}

fn mail_parts(m: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut c = collect(budget());
    mail(m, &mut c);
    c.children
}

#[test]
fn multipart_bodies_like_clamav() {
    let m = b"From: a\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 7bit\n\nseven\r\nbit  \n\n--B\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=0D=0A\r\ny=20\r\n--B--\n";
    let parts = mail_parts(m);
    let bodies: Vec<&[u8]> = parts.iter().map(|c| c.1.as_slice()).collect();
    assert_eq!(bodies, vec![&b"seven\nbit  \n\n"[..], &b"x\r\n\ny \n"[..]]);
}

/// From the SpamAssassin corpus: a message quoted in a text part,
/// after blank lines, and a body that starts with continuation lines.
#[test]
fn messages_with_ragged_starts() {
    let m = b" =?GB2312?B?yNW12g==?=\nTo: a@b\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJDREVG\n--Q--\n";
    let parts = mail_parts(m);
    assert!(parts.iter().any(|c| c.1 == b"ABCDEF"), "{:?}", parts);
}

#[test]
fn uuencode() {
    let t = b"text\nbegin 644 e.txt\n$04)#1```\n`\nend\n";
    let d = uudecode_all(t);
    assert_eq!(d, vec![("e.txt".to_string(), b"ABCD".to_vec())]);
}

#[test]
fn gzip_limit() {
    let mut e =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &vec![0u8; 5000]).unwrap();
    let gz = e.finish().unwrap();
    let b = Budget { max_file: 1000, bytes_left: 1 << 20, files_left: 10 };
    let mut c = collect(b);
    let skipped = gzip(&gz, &mut c).skipped;
    assert_eq!(c.children[0].1.len(), 1000);
    assert!(matches!(skipped, Some(Reason::FileSizeLimit)));
}

#[test]
fn forwarded_readings_are_counted_not_multiplied() {
    // Forwarded messages read two ways at every level: the walks
    // are counted, not multiplied.
    let mut inner = String::from("Subject: x\n\nhello =3D3D3D3D\n");
    for _ in 0..25 {
        inner = format!(
            "Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n\
             Content-Transfer-Encoding: quoted-printable\n\n{inner}"
        );
    }
    let mut c = collect(budget());
    let t = std::time::Instant::now();
    let skipped = mail(inner.as_bytes(), &mut c).skipped;
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(skipped, Some(Reason::FilesLimit)));
}

#[test]
fn deep_nesting_is_bounded() {
    let mut m = String::from("From: a\n");
    for i in 0..200 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
        ));
    }
    let mut c = collect(budget());
    assert!(matches!(
        mail(m.as_bytes(), &mut c).skipped,
        Some(Reason::DepthLimit)
    ));
}
