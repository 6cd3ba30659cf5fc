//! Redaction of secrets in what the report shows: values of credential headers (Cookie,
//! Authorization, ...) become `<redacted N bytes>`, and query parameters named like
//! credentials become `<redacted>`. Everything the diagnosis copies out of a request passes
//! through a [`Redactor`], so every report format is redacted alike.

/// Query parameter names whose values are replaced by `<redacted>` (compared case-insensitively;
/// a name containing one of these also counts, e.g. `access_token`, `api_key`).
const SECRET_PARAMS: &[&str] = &[
    "token",
    "key",
    "password",
    "passwd",
    "secret",
    "session",
    "auth",
    "sig",
    "signature",
    "jwt",
    "code",
];

/// Headers whose whole value is a credential (compared case-insensitively).
pub const SECRET_HEADERS: &[&str] = &[
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "x-api-key",
];

/// Headers whose value is a URL: their query string is redacted like the request target's.
const URL_HEADERS: &[&str] = &["referer", "location", "content-location"];

pub const REDACTED: &str = "<redacted>";

/// What to hide. The default hides nothing extra beyond the built-in lists; `enabled: false`
/// (`--no-redact`) shows everything.
#[derive(Clone, Debug)]
pub struct Redactor {
    pub enabled: bool,
    /// More header names to hide (`--redact-header`), lowercase.
    pub extra_headers: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor {
            enabled: true,
            extra_headers: Vec::new(),
        }
    }
}

impl Redactor {
    pub fn new(enabled: bool, extra_headers: &[String]) -> Redactor {
        Redactor {
            enabled,
            extra_headers: extra_headers
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether header `name`'s whole value is hidden.
    pub fn hides_header(&self, name: &str) -> bool {
        self.enabled
            && (SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
                || self
                    .extra_headers
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name)))
    }

    /// A header value as the report may show it: `<redacted 34 bytes>` for a credential
    /// header, the query string redacted for a URL header, otherwise as is.
    pub fn header_value(&self, name: &str, value: &str) -> String {
        if self.hides_header(name) {
            format!("<redacted {} bytes>", value.len())
        } else if URL_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            target(value, self.enabled)
        } else {
            value.to_string()
        }
    }

    /// The request target with secret query values replaced.
    pub fn target(&self, t: &str) -> String {
        target(t, self.enabled)
    }
}

/// The request target with secret query values replaced, unless `redact` is false.
pub fn target(target: &str, redact: bool) -> String {
    let Some((path, query)) = target.split_once('?').filter(|_| redact) else {
        return target.to_string();
    };
    let mut out = String::with_capacity(target.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| n.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_params_only() {
        assert_eq!(
            target("/ws?token=abc&room=1&Access_Token=x", true),
            "/ws?token=<redacted>&room=1&Access_Token=<redacted>"
        );
        assert_eq!(target("/ws?token=abc", false), "/ws?token=abc");
        assert_eq!(target("/plain/path", true), "/plain/path");
        assert_eq!(
            target("/ws?flag&session=s", true),
            "/ws?flag&session=<redacted>"
        );
    }

    #[test]
    fn credential_headers_keep_name_and_length_only() {
        let r = Redactor::new(true, &["X-Game-Ticket".to_string()]);
        assert_eq!(
            r.header_value("Cookie", "session=sess-alice-0123456789abcdef"),
            "<redacted 35 bytes>"
        );
        assert_eq!(
            r.header_value("AUTHORIZATION", "Bearer x"),
            "<redacted 8 bytes>"
        );
        assert_eq!(r.header_value("x-game-ticket", "abc"), "<redacted 3 bytes>");
        assert_eq!(
            r.header_value("Host", "game.example.com"),
            "game.example.com"
        );
        assert_eq!(
            r.header_value("Referer", "https://a/b?token=t&x=1"),
            "https://a/b?token=<redacted>&x=1"
        );
        let off = Redactor::new(false, &["X-Game-Ticket".to_string()]);
        assert_eq!(off.header_value("Cookie", "session=s"), "session=s");
        assert_eq!(off.header_value("X-Game-Ticket", "abc"), "abc");
    }
}
