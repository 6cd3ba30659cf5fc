//! Redaction of secrets in what the report shows: query parameters named like credentials.
//! Header values that carry secrets (Cookie, Authorization, ...) are never copied into
//! findings at all.

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

pub const REDACTED: &str = "<redacted>";

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
}
