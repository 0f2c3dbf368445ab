//! Downloads from the update servers: one HTTP(S) agent with the
//! configured proxy and timeouts, HTTP basic auth from the config, the
//! auth file or `.netrc`, a size bound on every body, and what the
//! server's status means for trying it again.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a request came to no answer from the server (an answer with an
/// unwelcome status is a [`Got`], not this).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The configured proxy URL does not parse.
    #[error("proxy {proxy}: {cause}")]
    Proxy {
        /// The URL as configured.
        proxy: String,
        /// What the HTTP client said (in the message, so not a
        /// `source()` that a chain printer would repeat).
        cause: ureq::Error,
    },
    /// The server could not be reached, the connection broke, or the
    /// body is larger than the bound.
    #[error("{url}: {cause}")]
    Http {
        /// The URL asked for.
        url: String,
        /// What the HTTP client said.
        cause: ureq::Error,
    },
    /// The file a download goes into could not be opened or written.
    #[error("{}: {cause}", path.display())]
    Part {
        /// The partial file.
        path: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// A new partial file could not be rewound.
    #[error("{cause}")]
    Rewind {
        /// What the system said.
        cause: std::io::Error,
    },
    /// The body broke off; what came is kept to be resumed.
    #[error("{url}: {cause} (the part received is kept)")]
    CutShort {
        /// The URL asked for.
        url: String,
        /// What the connection said.
        cause: std::io::Error,
    },
}

impl FetchError {
    fn http(url: &str) -> impl FnOnce(ureq::Error) -> FetchError {
        move |cause| FetchError::Http { url: url.to_string(), cause }
    }

    fn part(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError {
        move |cause| FetchError::Part { path: path.to_path_buf(), cause }
    }
}

/// Credentials for a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Reads `username = X` / `password = Y` lines (the manual's
/// `/etc/nod32/nod32.auth`; `#` starts a comment).
pub fn auth_file(text: &str) -> Option<Credentials> {
    let mut c = Credentials::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((k, v)) =
            line.split_once('=').or_else(|| line.split_once(':'))
        else {
            continue;
        };
        match k.trim() {
            "username" | "user" => c.user = v.trim().to_string(),
            "password" => c.password = v.trim().to_string(),
            _ => {}
        }
    }
    (!c.user.is_empty()).then_some(c)
}

/// The `machine HOST login U password P` entry of a `.netrc` for
/// `host` (or its `default` entry).
pub fn netrc(text: &str, host: &str) -> Option<Credentials> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (mut found, mut default) = (None, None);
    let mut i = 0;
    while i < words.len() {
        let start = match words[i] {
            "machine" if words.get(i + 1) == Some(&host) => {
                i += 2;
                true
            }
            "default" => {
                i += 1;
                false
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let mut c = Credentials::default();
        while i < words.len() && !matches!(words[i], "machine" | "default") {
            match (words[i], words.get(i + 1)) {
                ("login", Some(v)) => c.user = v.to_string(),
                ("password", Some(v)) => c.password = v.to_string(),
                _ => {}
            }
            i += 2;
        }
        if start {
            found.get_or_insert(c);
        } else {
            default.get_or_insert(c);
        }
    }
    found.or(default).filter(|c| !c.user.is_empty())
}

fn base64(b: &[u8]) -> String {
    nod32_engine::mime::base64_encode(b, None)
}

/// What a request came to.
#[derive(Debug)]
pub enum Got {
    /// The body (all of it, or the range asked for).
    Body(Vec<u8>),
    /// 404: this server does not have it.
    Missing,
    /// 401: the credentials were refused.
    Unauthorized,
    /// 403 or 429: leave this server alone for this long.
    BackOff(Duration),
    /// Any other status.
    Status(u16),
}

/// What a status other than 200/206 means.
fn status_got<B>(status: u16, resp: &ureq::http::Response<B>) -> Got {
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match status {
        404 => Got::Missing,
        401 => Got::Unauthorized,
        // ClamAV's CDN: 403 means "blocked for a day", 429 "too many
        // requests" with Retry-After.
        403 => {
            Got::BackOff(Duration::from_secs(retry_after.unwrap_or(24 * 3600)))
        }
        429 => Got::BackOff(Duration::from_secs(retry_after.unwrap_or(3600))),
        s => Got::Status(s),
    }
}

/// An HTTP(S) client for the update servers.
pub struct Client {
    agent: ureq::Agent,
    max: u64,
}

/// Pieces of a URL this client needs.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    }
}

impl Client {
    /// A client with `timeout` for each request, bodies of at most `max`
    /// bytes, and `proxy` (`http://[user:pass@]host:port`) if given.
    ///
    /// # Errors
    /// The proxy URL does not parse.
    pub fn new(
        timeout: Duration,
        max: u64,
        proxy: Option<&str>,
    ) -> Result<Client, FetchError> {
        let proxy = match proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|cause| {
                FetchError::Proxy { proxy: p.to_string(), cause }
            })?),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .proxy(proxy)
            .user_agent(concat!("nod32upd/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client { agent, max })
    }

    /// GETs `url`; `range` asks for only the first bytes.
    ///
    /// # Errors
    /// The server cannot be reached, the connection broke, or the body
    /// is larger than the bound.
    pub fn get(
        &self,
        url: &str,
        creds: Option<&Credentials>,
        range: Option<u64>,
    ) -> Result<Got, FetchError> {
        let mut req = self.agent.get(url);
        if let Some(c) = creds {
            let token =
                base64(format!("{}:{}", c.user, c.password).as_bytes());
            req = req.header("Authorization", format!("Basic {token}"));
        }
        if let Some(n) = range {
            req = req.header("Range", format!("bytes=0-{}", n - 1));
        }
        let mut resp = req.call().map_err(FetchError::http(url))?;
        let status = resp.status().as_u16();
        Ok(match status {
            200 | 206 => {
                let limit = if status == 206 {
                    range.unwrap_or(self.max).min(self.max)
                } else {
                    self.max
                };
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(limit)
                    .read_to_vec()
                    .map_err(FetchError::http(url))?;
                Got::Body(body)
            }
            s => status_got(s, &resp),
        })
    }
    /// GETs `url` into `part` (a file), asking only for the bytes after
    /// those already in it (HTTP Range), so a download cut short by a
    /// timeout, a kill or a lost connection goes on where it stopped the
    /// next time. `Ok(Got::Body(vec![]))` when `part` now holds the
    /// whole file.
    ///
    /// # Errors
    /// The server cannot be reached, the connection broke (what came is
    /// kept in `part`), or the file is larger than the bound.
    pub fn download(
        &self,
        url: &str,
        creds: Option<&Credentials>,
        part: &Path,
    ) -> Result<Got, FetchError> {
        use std::io::{Seek, Write};
        let have = std::fs::metadata(part).map_or(0, |m| m.len());
        let mut req = self.agent.get(url);
        if let Some(c) = creds {
            let token =
                base64(format!("{}:{}", c.user, c.password).as_bytes());
            req = req.header("Authorization", format!("Basic {token}"));
        }
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let mut resp = req.call().map_err(FetchError::http(url))?;
        let status = resp.status().as_u16();
        let mut f = match status {
            // The rest of it.
            206 if have > 0 => std::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(FetchError::part(part))?,
            // All of it (the server ignores Range, or nothing was kept).
            200 => {
                let mut f = std::fs::File::create(part)
                    .map_err(FetchError::part(part))?;
                f.rewind().map_err(|cause| FetchError::Rewind { cause })?;
                f
            }
            // What was kept is already the whole file.
            416 if have > 0 => return Ok(Got::Body(Vec::new())),
            404 => return Ok(Got::Missing),
            401 => return Ok(Got::Unauthorized),
            s => return Ok(status_got(s, &resp)),
        };
        let start = if status == 206 { have } else { 0 };
        let mut body = resp
            .body_mut()
            .with_config()
            .limit(self.max.saturating_sub(start))
            .reader();
        let copied = std::io::copy(&mut body, &mut f);
        f.flush()
            .and_then(|()| f.sync_all())
            .map_err(FetchError::part(part))?;
        copied.map_err(|cause| FetchError::CutShort {
            url: url.to_string(),
            cause,
        })?;
        Ok(Got::Body(Vec::new()))
    }
}

/// Where credentials come from, as read by the privileged part of a run
/// (the auth file and `~/.netrc` may be readable by root alone): the
/// configured ones, else the auth file's, else the `.netrc` entry for
/// the server's host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `[upd] username` / `password`.
    pub configured: Option<Credentials>,
    /// The auth file's text.
    pub auth_file: Option<String>,
    /// `~/.netrc`'s text.
    pub netrc: Option<String>,
}

impl Secrets {
    /// Reads the files there are.
    pub fn read(
        configured: Option<Credentials>,
        auth_path: &Path,
        netrc_path: Option<&Path>,
    ) -> Secrets {
        Secrets {
            configured,
            auth_file: std::fs::read_to_string(auth_path).ok(),
            netrc: netrc_path.and_then(|p| std::fs::read_to_string(p).ok()),
        }
    }

    /// The credentials for `url`.
    pub fn for_url(&self, url: &str) -> Option<Credentials> {
        self.source_for(url).map(|(c, _)| c)
    }

    /// The credentials for `url` and where they come from.
    pub fn source_for(&self, url: &str) -> Option<(Credentials, Source)> {
        if let Some(c) = &self.configured {
            return Some((c.clone(), Source::Configured));
        }
        if let Some(c) = self.auth_file.as_deref().and_then(auth_file) {
            return Some((c, Source::AuthFile));
        }
        Some((netrc(self.netrc.as_deref()?, host_of(url))?, Source::Netrc))
    }
}

/// Where credentials were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `[upd] username` / `password`.
    Configured,
    /// The auth file.
    AuthFile,
    /// `~/.netrc`.
    Netrc,
}

/// The permission bits of `path` when every user may read it.
pub fn readable_by_all(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then_some(mode)
}

/// Whether a proxy URL carries a password (`http://user:pass@host`).
pub fn proxy_has_password(proxy: &str) -> bool {
    let rest = proxy.split_once("://").map_or(proxy, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_files() {
        assert_eq!(
            auth_file("# NOD32\nusername = EAV-123\npassword=s3cret\n"),
            Some(Credentials {
                user: "EAV-123".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(auth_file("password = x\n"), None);
        let rc = "machine a.example login u1 password p1\n\
                  default login dflt password pd\n\
                  machine mirror.example login u2 password p2\n";
        assert_eq!(netrc(rc, "mirror.example").unwrap().user, "u2");
        assert_eq!(netrc(rc, "a.example").unwrap().password, "p1");
        assert_eq!(netrc(rc, "other").unwrap().user, "dflt");
        assert_eq!(netrc("machine x login a", "y"), None);
        let s = Secrets {
            configured: None,
            auth_file: Some("# none\n".into()),
            netrc: Some(rc.into()),
        };
        assert_eq!(s.for_url("https://mirror.example/x").unwrap().user, "u2");
        assert_eq!(
            s.source_for("https://mirror.example/x").unwrap().1,
            Source::Netrc
        );
        let s = Secrets {
            auth_file: Some("user = a\npassword = b\n".into()),
            ..s
        };
        assert_eq!(s.for_url("https://mirror.example/x").unwrap().user, "a");
        assert_eq!(
            s.source_for("https://mirror.example/x").unwrap().1,
            Source::AuthFile
        );
        assert!(proxy_has_password("http://u:p@proxy:3128"));
        assert!(!proxy_has_password("http://u@proxy:3128"));
        assert!(!proxy_has_password("http://proxy:3128/a:b@c"));
    }

    #[test]
    fn modes_readable_by_all() {
        use std::os::unix::fs::PermissionsExt;
        let f = std::env::temp_dir()
            .join(format!("nod32upd-mode-test.{}", std::process::id()));
        std::fs::write(&f, "password = x\n").unwrap();
        for (mode, said) in [
            (0o644, Some(0o644)),
            (0o604, Some(0o604)),
            (0o640, None),
            (0o600, None),
        ] {
            std::fs::set_permissions(
                &f,
                std::fs::Permissions::from_mode(mode),
            )
            .unwrap();
            assert_eq!(readable_by_all(&f), said, "{mode:o}");
        }
        std::fs::remove_file(&f).unwrap();
        assert_eq!(readable_by_all(&f), None);
    }

    #[test]
    fn basic_auth_and_hosts() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(
            host_of("http://u:p@mirror.example:8080/nod_upd"),
            "mirror.example"
        );
        assert_eq!(host_of("https://[::1]:81/x"), "::1");
        assert_eq!(host_of("http://127.0.0.1/"), "127.0.0.1");
    }
}
