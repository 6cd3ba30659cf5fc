//! `nginx -T` output: splits the dump into its files, each introduced by
//! `# configuration file PATH:`, in the order nginx read them (the main file first), and drops
//! the `nginx: ...` status lines that appear when stderr was saved with stdout.

/// One file of a dump: its path as nginx opened it, and its text (lines numbered from 1 as in
/// the file itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFile {
    pub path: String,
    pub text: String,
}

const HEADER: &str = "# configuration file ";

/// Splits a dump. Text before the first header (other than status lines) is ignored; an empty
/// result means this is not an `nginx -T` dump.
pub fn split(dump: &str) -> Vec<DumpFile> {
    let mut files: Vec<DumpFile> = Vec::new();
    for line in dump.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare
            .strip_prefix(HEADER)
            .and_then(|p| p.strip_suffix(':'))
            .filter(|p| p.starts_with('/') || !p.contains(' '))
        {
            files.push(DumpFile {
                path: path.to_string(),
                text: String::new(),
            });
            continue;
        }
        if is_status_line(bare) {
            continue;
        }
        if let Some(f) = files.last_mut() {
            f.text.push_str(line);
        }
    }
    files
}

/// `nginx: the configuration file ... syntax is ok`, `nginx: [warn] ...` and the like.
fn is_status_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("nginx: ") else {
        return false;
    };
    rest.starts_with("the configuration file ")
        || rest.starts_with("configuration file ")
        || rest.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_files_and_drops_status_lines() {
        let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n\
nginx: configuration file /etc/nginx/nginx.conf test is successful\n\
# configuration file /etc/nginx/nginx.conf:\n\
http {\n\
    include /etc/nginx/sites-enabled/*;\n\
}\n\
\n\
# configuration file /etc/nginx/sites-enabled/default:\n\
server {\n\
    # configuration file is a comment here, not a header\n\
}\n";
        let files = split(dump);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "/etc/nginx/nginx.conf");
        assert_eq!(
            files[0].text,
            "http {\ninclude /etc/nginx/sites-enabled/*;\n}\n\n"
        );
        assert_eq!(files[1].path, "/etc/nginx/sites-enabled/default");
        assert!(files[1].text.starts_with("server {\n"));
        assert!(files[1].text.contains("not a header"));
    }

    #[test]
    fn crlf_and_warnings() {
        let dump = "nginx: [warn] conflicting server name\r\n# configuration file /a.conf:\r\nevents {}\r\n";
        let files = split(dump);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].text, "events {}\r\n");
    }

    #[test]
    fn not_a_dump() {
        assert!(split("server { listen 80; }\n").is_empty());
    }
}
