//! The commands that print what signature lines are written from: the
//! icon hashes of `.idb` lines, the certificates of `.crb` rules and the
//! normalised forms of HTML pages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `nod32cli html-normalise`: the page's forms written into `dir`.
pub(crate) fn html_normalise(file: &Path, dir: &Path) -> Result<u8> {
    let page = std::fs::read(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let forms = nod32_engine::html_forms(&page);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot make {}", dir.display()))?;
    let mut out = vec![
        ("nocomment.html", &forms.nocomment),
        ("notags.html", &forms.notags),
    ];
    if !forms.javascript.is_empty() {
        out.push(("javascript", &forms.javascript));
    }
    for (name, bytes) in out {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(0)
}

/// `nod32cli icons`: 0 when every file was read, 2 otherwise.
pub(crate) fn icons(files: &[PathBuf]) -> Result<u8> {
    let mut status = 0;
    for f in files {
        let shown = f.display().to_string();
        match std::fs::read(f) {
            Ok(data) => {
                for (i, h) in
                    nod32_engine::icon_hashes(&data).iter().enumerate()
                {
                    // Icons of 72, 120, 144... pixels are compared at
                    // 18, 30... pixels, a size no `.idb` line can take.
                    if !matches!(&h[..2], "10" | "18" | "20") {
                        let side =
                            u32::from_str_radix(&h[..2], 16).unwrap_or(0);
                        eprintln!(
                            "nod32cli: {shown}: icon {} is compared at {side} pixels; an .idb line takes 16, 24 or 32",
                            i + 1
                        );
                        continue;
                    }
                    println!("{shown}: ICON_NAME:GROUP1:GROUP2:{h}");
                }
            }
            Err(e) => {
                eprintln!("nod32cli: {shown}: {e}");
                status = 2;
            }
        }
    }
    Ok(status)
}

/// `nod32cli certs`: a `.crb` trust rule for each certificate of each
/// executable's Authenticode signature; 0 when every file was read, 2
/// otherwise.
pub(crate) fn certs(files: &[PathBuf]) -> Result<u8> {
    let mut status = 0;
    for f in files {
        let shown = f.display().to_string();
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("nod32cli: {shown}: {e}");
                status = 2;
                continue;
            }
        };
        let certs = nod32_engine::signer_certificates(&data);
        if certs.is_empty() {
            eprintln!("nod32cli: {shown}: no certificate the check can use");
        }
        let bit = |b: bool| if b { '1' } else { '0' };
        for c in certs {
            // A trust rule; `0` in the second field makes it a block rule.
            println!(
                "{shown}: NAME;1;{};{};{};010001;{};{};{};;valid {} to {}, issuer {}",
                c.subject,
                c.serial,
                c.modulus,
                bit(c.code),
                bit(c.time),
                bit(c.cert_sign),
                date(c.not_before),
                date(c.not_after),
                c.issuer
            );
        }
    }
    Ok(status)
}

/// A Unix time as its UTC date, `YYYY-MM-DD`.
fn date(t: i64) -> String {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_735_689_600), "2025-01-01");
        assert_eq!(super::date(951_782_400), "2000-02-29");
        assert_eq!(super::date(-86_400), "1969-12-31");
    }
}
