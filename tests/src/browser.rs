//! Headless Chromium for the tests of web pages: load a URL, let its scripts run, and read the
//! DOM they rendered.
//!
//! [`Chromium::find`] looks for the browser (`CHROMIUM_BIN`, then `chromium` and
//! `chromium-browser` on `PATH`; Debian's package is `chromium`, which `scripts/test.sh`
//! installs). A missing browser is an error that says how to install it: a page test must not pass
//! without having looked at the page.
//!
//! [`Chromium::dump_dom`] runs one `--headless --dump-dom` load with a fresh profile (so nothing,
//! not even `localStorage`, leaks from one load to the next) and a `--virtual-time-budget`: the
//! page's timers run on virtual time, which Chromium holds still while a fetch is in flight, so
//! the DOM is dumped after the page's first requests have been answered and rendered. Each load
//! has a wall-clock timeout; a browser that hangs is killed. [`Chromium::wait_for_dom`] reloads
//! until a check on the DOM passes, for pages whose data is still arriving.
//!
//! [`elements`] and [`text`] are a small reader for the DOM Chromium serialises: enough to pick
//! elements by tag and attribute and read their text, with no HTML parser to depend on.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why a page could not be loaded.
#[derive(Debug)]
pub enum BrowserError {
    /// No Chromium binary was found.
    NotFound { looked_at: Vec<PathBuf> },
    /// The browser could not be started, or its files could not be written or read.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The browser did not finish within the timeout and was killed.
    Timeout {
        url: String,
        timeout: Duration,
        stderr_tail: String,
    },
    /// The browser exited with a failure, or printed no DOM.
    Failed {
        url: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    /// [`Chromium::wait_for_dom`] ran out of time before the check passed.
    CheckFailed {
        url: String,
        timeout: Duration,
        loads: u32,
        last: String,
    },
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { looked_at } => write!(
                f,
                "Chromium not found (looked at {}): install the Debian package with \
                 `apt-get install chromium` (scripts/test.sh does), or set CHROMIUM_BIN",
                looked_at
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
            Self::Timeout {
                url,
                timeout,
                stderr_tail,
            } => write!(
                f,
                "Chromium did not finish loading {url} within {timeout:?}; its stderr ends \
                 with:\n{stderr_tail}"
            ),
            Self::Failed {
                url,
                status,
                stderr_tail,
            } => write!(
                f,
                "Chromium failed on {url} ({status}); its stderr ends with:\n{stderr_tail}"
            ),
            Self::CheckFailed {
                url,
                timeout,
                loads,
                last,
            } => write!(
                f,
                "{url}: the page did not pass the check within {timeout:?} ({loads} loads); \
                 last: {last}"
            ),
        }
    }
}

impl std::error::Error for BrowserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How long one load may take on the wall clock. Starting Chromium takes about a second on a
/// quiet machine; the margin is for a small CI box that is building at the same time.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Virtual milliseconds the page's scripts get per load: several 5 s refresh periods of a
/// dashboard, run in well under a second of real time.
pub const VIRTUAL_TIME_MS: u64 = 12_000;

/// A headless Chromium binary.
#[derive(Debug, Clone)]
pub struct Chromium {
    program: PathBuf,
}

impl Chromium {
    /// Finds the browser: `CHROMIUM_BIN`, else `chromium` or `chromium-browser` on `PATH`.
    pub fn find() -> Result<Self, BrowserError> {
        if let Some(p) = std::env::var_os("CHROMIUM_BIN") {
            let program = PathBuf::from(p);
            return if program.is_file() {
                Ok(Self { program })
            } else {
                Err(BrowserError::NotFound {
                    looked_at: vec![program],
                })
            };
        }
        let dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let candidates: Vec<PathBuf> = ["chromium", "chromium-browser"]
            .iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
            .collect();
        match candidates.iter().find(|p| p.is_file()) {
            Some(program) => Ok(Self {
                program: program.clone(),
            }),
            None => Err(BrowserError::NotFound {
                looked_at: candidates,
            }),
        }
    }

    /// The binary in use.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Loads `url` once with a fresh profile, lets its scripts run for `virtual_time_ms` of
    /// virtual time, and returns the serialised DOM. Kills the browser after `timeout`.
    pub fn dump_dom(
        &self,
        url: &str,
        virtual_time_ms: u64,
        timeout: Duration,
    ) -> Result<String, BrowserError> {
        let io = |what: String| move |source| BrowserError::Io { what, source };
        let dir = tempfile::Builder::new()
            .prefix("store-tests-chromium-")
            .tempdir()
            .map_err(io("create a temporary profile directory".into()))?;
        let (out_path, err_path) = (dir.path().join("dom.html"), dir.path().join("stderr.log"));
        let out = File::create(&out_path).map_err(io(format!("create {}", out_path.display())))?;
        let err = File::create(&err_path).map_err(io(format!("create {}", err_path.display())))?;
        // Output goes to files, not pipes: Chromium's helper processes inherit the descriptors,
        // and a pipe held open by a straggler would block a reader forever.
        let mut child = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!("--virtual-time-budget={virtual_time_ms}"))
            .arg("--dump-dom")
            .arg(url)
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("start {}", self.program.display())))?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BrowserError::Timeout {
                        url: url.to_owned(),
                        timeout,
                        stderr_tail: crate::process::tail(&err_path, 20),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(BrowserError::Io {
                        what: "wait for Chromium".into(),
                        source,
                    })
                }
            }
        };
        let dom = std::fs::read_to_string(&out_path)
            .map_err(io(format!("read {}", out_path.display())))?;
        if !status.success() || !dom.contains("<html") {
            return Err(BrowserError::Failed {
                url: url.to_owned(),
                status,
                stderr_tail: crate::process::tail(&err_path, 20),
            });
        }
        Ok(dom)
    }

    /// Loads `url` again and again (each load as [`Chromium::dump_dom`] with
    /// [`VIRTUAL_TIME_MS`] and [`LOAD_TIMEOUT`]) until `check` accepts the DOM, and returns what
    /// it returned. `Err(state)` from `check` means "not yet" and says what the page showed.
    pub fn wait_for_dom<T>(
        &self,
        url: &str,
        timeout: Duration,
        mut check: impl FnMut(&str) -> Result<T, String>,
    ) -> Result<T, BrowserError> {
        let start = Instant::now();
        let mut loads = 0;
        loop {
            let dom = self.dump_dom(url, VIRTUAL_TIME_MS, LOAD_TIMEOUT)?;
            loads += 1;
            let last = match check(&dom) {
                Ok(v) => return Ok(v),
                Err(state) => state,
            };
            if start.elapsed() >= timeout {
                return Err(BrowserError::CheckFailed {
                    url: url.to_owned(),
                    timeout,
                    loads,
                    last,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One element of a serialised DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub tag: String,
    /// Attributes by name, values with entities decoded.
    pub attrs: BTreeMap<String, String>,
    /// Everything between the start tag and its end tag (empty for void elements).
    pub inner_html: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// Whether the `class` attribute lists `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_ascii_whitespace().any(|c| c == class))
    }

    /// The text content (tags removed, entities decoded).
    pub fn text(&self) -> String {
        text(&self.inner_html)
    }

    /// The descendants named `tag`.
    pub fn find(&self, tag: &str) -> Vec<Element> {
        elements(&self.inner_html, tag)
    }
}

/// Every element named `tag` (lower case) in `html`, outermost first, in document order; an
/// element nested in another of the same name is listed too. Reads the DOM Chromium serialises
/// (well-formed, attribute values double-quoted); not a general HTML parser.
pub fn elements(html: &str, tag: &str) -> Vec<Element> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = find_start_tag(html, from, tag) {
        from = i + 1 + tag.len();
        let Some(end) = start_tag_end(html, from) else {
            break;
        };
        let attrs = parse_attrs(&html[from..end]);
        let body_start = end + 1;
        let inner_html = match matching_close(html, body_start, tag) {
            Some(close) => html[body_start..close].to_owned(),
            None => String::new(),
        };
        found.push(Element {
            tag: tag.to_owned(),
            attrs,
            inner_html,
        });
    }
    found
}

/// The text of an HTML fragment: tags removed, the entities Chromium writes decoded.
pub fn text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        match rest[i..].find('>') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

/// Index of the next `<tag` at or after `from` that starts a `tag` element (not `<link` for `li`).
fn find_start_tag(html: &str, mut from: usize, tag: &str) -> Option<usize> {
    let open = format!("<{tag}");
    loop {
        let k = html[from..].find(&open)? + from;
        from = k + open.len();
        if matches!(html[from..].chars().next(),
                    Some(c) if c == '>' || c == '/' || c.is_ascii_whitespace())
        {
            return Some(k);
        }
    }
}

/// Index of the `>` that ends the start tag whose attributes begin at `from`, skipping quoted
/// attribute values.
fn start_tag_end(html: &str, from: usize) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in html[from..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// Index of the `</tag>` closing an element whose content starts at `from`, counting nested
/// elements of the same name.
fn matching_close(html: &str, from: usize, tag: &str) -> Option<usize> {
    let close = format!("</{tag}>");
    let mut depth = 0usize;
    let mut i = from;
    loop {
        let next_close = html[i..].find(&close).map(|k| k + i)?;
        match find_start_tag(html, i, tag).filter(|&k| k < next_close) {
            Some(k) => {
                depth += 1;
                i = k + 1 + tag.len();
            }
            None if depth == 0 => return Some(next_close),
            None => {
                depth -= 1;
                i = next_close + close.len();
            }
        }
    }
}

fn parse_attrs(s: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() && !rest.starts_with('/') {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace() || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        let value = if let Some(after_eq) = rest.strip_prefix("=\"") {
            let close = after_eq.find('"').unwrap_or(after_eq.len());
            let v = decode_entities(&after_eq[..close]);
            rest = after_eq.get(close + 1..).unwrap_or("");
            v
        } else {
            String::new()
        };
        if !name.is_empty() {
            attrs.insert(name, value);
        } else {
            // Not something Chromium writes; skip a character rather than loop forever.
            rest = rest.get(1..).unwrap_or("");
        }
        rest = rest.trim_start();
    }
    attrs
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM: &str = r#"<html><head><link rel="x"></head><body>
<section class="store" data-store="s1"><h2>s1 &amp; co</h2>
<ul class="alerts"><li class="alert OUT OPEN" data-kind="OUT" data-store="s1"><button>ack</button><b>OUT</b> pens (1 &lt; 2)</li>
<li class="muted">none</li></ul>
<div class="staffing"><div class="a"><div>inner</div></div></div>
<svg viewBox="0 0 96 40"><rect x="0" height="3"><title>t</title></rect><rect x="1" height="0"></rect></svg>
</section><section class="store" data-store="s2"></section></body></html>"#;

    #[test]
    fn finds_elements_with_attributes_and_text() {
        let sections = elements(DOM, "section");
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].attr("data-store"), Some("s1"));
        assert!(sections[0].has_class("store"));
        assert_eq!(sections[1].inner_html, "");
        let lis = sections[0].find("li");
        assert_eq!(lis.len(), 2);
        assert_eq!(lis[0].attr("data-kind"), Some("OUT"));
        assert!(lis[0].has_class("OPEN") && !lis[0].has_class("OPE"));
        assert_eq!(lis[0].text(), "ackOUT pens (1 < 2)");
        assert_eq!(sections[0].find("rect").len(), 2);
        assert!(elements(DOM, "li").iter().all(|e| e.tag == "li"));
        assert_eq!(sections[0].find("h2")[0].text(), "s1 & co");
    }

    #[test]
    fn nested_elements_of_one_name_close_at_their_own_end_tag() {
        let divs = elements(DOM, "div");
        assert_eq!(divs.len(), 3);
        assert_eq!(divs[0].text(), "inner");
        assert!(divs[0].has_class("staffing"));
        assert_eq!(divs[1].inner_html, "<div>inner</div>");
        assert_eq!(divs[2].inner_html, "inner");
    }

    #[test]
    fn a_missing_browser_binary_is_named() {
        let e = BrowserError::NotFound {
            looked_at: vec![PathBuf::from("/nowhere/chromium")],
        };
        let msg = e.to_string();
        assert!(
            msg.contains("/nowhere/chromium") && msg.contains("apt-get install chromium"),
            "{msg}"
        );
    }
}
