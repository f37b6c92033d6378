//! Which files `mmbind index` takes, and as which modality: the walk, `--exclude`,
//! `--include-hidden` and `--modality-of`.
//!
//! The walk must not make `index` drop files it merely could not see: a directory that cannot
//! be read (or a file that cannot be examined) is reported and listed in
//! [`Collected::unreadable`], and `index` keeps whatever the index holds under it. Only
//! regular files are taken (opening a FIFO would block while `index` holds the writer lock).
//! Any name is taken, UTF-8 or not (the index keeps it exactly: `mmbind_index::path_text`).

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use glob::{MatchOptions, Pattern};
use mmbind_modalities::Modality;
use mmbind_modalities::prepare::modality_of_extension;

/// The user's file rules.
#[derive(Debug, Default)]
pub struct Rules {
    exclude: Vec<Pattern>,
    modality_of: Vec<(Pattern, Modality)>,
    include_hidden: bool,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Collected {
    /// Absolute path → modality, sorted by path (each file once, however many roots reach it).
    pub files: BTreeMap<PathBuf, Modality>,
    /// `path: reason` for everything that could not be listed or taken.
    pub errors: Vec<String>,
    /// Directories that could not be read and files that could not be examined: whatever
    /// the index holds under them is still there as far as anyone knows.
    pub unreadable: Vec<PathBuf>,
    /// Files skipped because no rule and no known extension gives them a modality.
    pub ignored: usize,
}

/// Lists a directory: the paths of its entries (any order). Injectable for tests, which run
/// as root, where no permission stops `read_dir`.
pub type ReadDir<'a> = &'a dyn Fn(&Path) -> io::Result<Vec<PathBuf>>;

fn read_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect()
}

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    // `*` stays within one directory; `**` crosses them.
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

fn pattern(glob: &str, flag: &str) -> anyhow::Result<Pattern> {
    Pattern::new(glob).map_err(|e| anyhow::anyhow!("{flag} '{glob}': {e}"))
}

/// A glob matches a path when it matches any trailing run of its components: `*.png`
/// matches every PNG, `depth/*.png` a PNG directly inside any directory named `depth`,
/// `raw/**` everything below any `raw` directory.
fn matches(p: &Pattern, path: &Path) -> bool {
    let parts: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    (0..parts.len()).any(|i| p.matches_path_with(&parts[i..].iter().collect::<PathBuf>(), MATCH))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

impl Rules {
    /// `modality_of` entries are `GLOB=MODALITY`; the first matching one wins.
    pub fn new(
        exclude: &[String],
        modality_of: &[String],
        include_hidden: bool,
    ) -> anyhow::Result<Self> {
        let exclude = exclude
            .iter()
            .map(|g| pattern(g, "--exclude"))
            .collect::<anyhow::Result<_>>()?;
        let modality_of = modality_of
            .iter()
            .map(|rule| {
                let (glob, m) = rule.rsplit_once('=').ok_or_else(|| {
                    anyhow::anyhow!(
                        "--modality-of '{rule}': expected GLOB=MODALITY, e.g. 'depth/*.png=depth'"
                    )
                })?;
                let m: Modality = m
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--modality-of '{rule}': {e}"))?;
                Ok((pattern(glob, "--modality-of")?, m))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            exclude,
            modality_of,
            include_hidden,
        })
    }

    /// The modality of a file: the first `--modality-of` rule that matches, else its extension.
    pub fn modality(&self, path: &Path) -> Option<Modality> {
        self.modality_of
            .iter()
            .find(|(p, _)| matches(p, path))
            .map(|(_, m)| *m)
            .or_else(|| modality_of_extension(path))
    }

    fn skipped(&self, path: &Path, root: bool) -> bool {
        !root
            && ((!self.include_hidden && path.file_name().is_some_and(is_hidden))
                || self.exclude.iter().any(|p| matches(p, path)))
    }

    /// Walks `roots` (files or directories; links followed, loops reported). A root that
    /// does not exist is an error: treating it as empty would drop its files from the index.
    pub fn collect(&self, roots: &[PathBuf]) -> anyhow::Result<Collected> {
        self.collect_with(roots, &read_dir)
    }

    /// `collect` with `list` in place of `std::fs::read_dir`.
    pub fn collect_with(&self, roots: &[PathBuf], list: ReadDir) -> anyhow::Result<Collected> {
        let mut out = Collected::default();
        for root in roots {
            let root = std::path::absolute(root)?;
            let md = std::fs::metadata(&root)
                .map_err(|e| anyhow::anyhow!("{}: {e} (nothing indexed)", root.display()))?;
            if !md.is_dir() {
                if self.modality(&root).is_none() {
                    anyhow::bail!(
                        "{}: cannot tell its modality from the extension; say it with --modality-of",
                        root.display()
                    );
                }
                self.take(&root, &md, &mut out);
                continue;
            }
            let mut ancestors = vec![(md.dev(), md.ino())];
            self.walk(&root, &mut ancestors, list, &mut out);
        }
        Ok(out)
    }

    /// A file: taken when it is a regular file with a modality.
    fn take(&self, path: &Path, md: &std::fs::Metadata, out: &mut Collected) {
        let Some(m) = self.modality(path) else {
            out.ignored += 1;
            return;
        };
        if !md.is_file() {
            out.errors.push(format!(
                "{}: {}, not a regular file",
                path.display(),
                mmbind_index::file_kind(md)
            ));
        } else {
            out.files.insert(path.to_path_buf(), m);
        }
    }

    fn walk(
        &self,
        dir: &Path,
        ancestors: &mut Vec<(u64, u64)>,
        list: ReadDir,
        out: &mut Collected,
    ) {
        let mut entries = match list(dir) {
            Ok(e) => e,
            Err(e) => {
                out.errors.push(format!(
                    "{}: cannot be read ({e}); the files indexed under it are kept",
                    dir.display()
                ));
                out.unreadable.push(dir.to_path_buf());
                return;
            }
        };
        entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for path in entries {
            if self.skipped(&path, false) {
                continue;
            }
            // Links followed.
            let md = match std::fs::metadata(&path) {
                Ok(md) => md,
                // A dangling link, or gone since the listing: nothing there to index.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    out.errors.push(format!("{}: {e}", path.display()));
                    continue;
                }
                Err(e) => {
                    out.errors.push(format!(
                        "{}: cannot be examined ({e}); what is indexed under it is kept",
                        path.display()
                    ));
                    out.unreadable.push(path);
                    continue;
                }
            };
            if md.is_dir() {
                let id = (md.dev(), md.ino());
                if ancestors.contains(&id) {
                    out.errors.push(format!(
                        "{}: a link back to a directory above it; not followed",
                        path.display()
                    ));
                    continue;
                }
                ancestors.push(id);
                self.walk(&path, ancestors, list, out);
                ancestors.pop();
            } else {
                self.take(&path, &md, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_trailing_components() {
        let p = |g: &str| Pattern::new(g).unwrap();
        let path = Path::new("/data/world/depth/s1.png");
        assert!(matches(&p("*.png"), path));
        assert!(matches(&p("depth/*.png"), path));
        assert!(matches(&p("world/**"), path));
        assert!(!matches(&p("vision/*.png"), path));
        assert!(!matches(&p("world/*.png"), path));
    }

    #[test]
    fn modality_rules_come_before_extensions() {
        let r = Rules::new(&[], &["depth/*=depth".into()], false).unwrap();
        assert_eq!(
            r.modality(Path::new("/w/depth/a.png")),
            Some(Modality::Depth)
        );
        assert_eq!(
            r.modality(Path::new("/w/vision/a.png")),
            Some(Modality::Vision)
        );
        assert_eq!(r.modality(Path::new("/w/notes.json")), None);
        let bad = Rules::new(&[], &["x=smell".into()], false).unwrap_err();
        assert!(
            bad.to_string().contains("unknown modality 'smell'"),
            "{bad}"
        );
        assert!(Rules::new(&[], &["nonsense".into()], false).is_err());
        assert!(Rules::new(&["[".into()], &[], false).is_err());
    }

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::path::absolute(tmp.path()).unwrap();
        for f in ["a/x.txt", "b/y.txt", "b/deep/z.txt", "c.txt"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        (tmp, root)
    }

    fn names(c: &Collected, root: &Path) -> Vec<String> {
        (c.files.keys())
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn an_unreadable_directory_is_reported_and_listed_for_keeping() {
        // Injected: tests run as root, where `chmod 000` does not stop `read_dir`.
        let (_tmp, root) = tree();
        let rules = Rules::new(&[], &[], false).unwrap();
        let bad = root.join("b");
        let list = |d: &Path| {
            if d == bad {
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
            } else {
                read_dir(d)
            }
        };
        let c = rules
            .collect_with(std::slice::from_ref(&root), &list)
            .unwrap();
        assert_eq!(names(&c, &root), ["a/x.txt", "c.txt"]);
        assert_eq!(c.unreadable, std::slice::from_ref(&bad));
        assert_eq!(c.errors.len(), 1);
        assert!(c.errors[0].contains("b: cannot be read") && c.errors[0].contains("kept"));

        // For real, where permissions apply (not as root).
        std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        let real = std::fs::read_dir(&bad).is_err();
        let c = rules.collect(std::slice::from_ref(&root)).unwrap();
        std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        if real {
            assert_eq!(c.unreadable, [bad]);
        } else {
            eprintln!("running as root: chmod 000 does not stop read_dir; injected case only");
        }
    }

    #[test]
    fn fifos_are_reported_not_taken_and_any_name_is_taken() {
        use std::os::unix::ffi::OsStrExt;
        let (_tmp, root) = tree();
        let fifo = root.join("a/pipe.txt");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let bad = root.join(std::ffi::OsStr::from_bytes(b"a/caf\xe9.txt"));
        std::fs::write(&bad, "x").unwrap();
        let rules = Rules::new(&[], &[], false).unwrap();
        let started = std::time::Instant::now();
        // Named explicitly, and found by the walk.
        let c = rules.collect(&[fifo.clone(), root.clone()]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            names(&c, &root),
            [
                "a/caf\u{fffd}.txt",
                "a/x.txt",
                "b/deep/z.txt",
                "b/y.txt",
                "c.txt"
            ]
        );
        assert!(c.files.contains_key(&bad));
        assert_eq!(c.errors.len(), 2, "{:?}", c.errors);
        assert_eq!(
            c.errors
                .iter()
                .filter(|e| e.contains("a FIFO, not a regular file"))
                .count(),
            2
        );
        assert!(c.unreadable.is_empty());
    }

    #[test]
    fn link_loops_and_dangling_links_are_reported() {
        let (_tmp, root) = tree();
        std::os::unix::fs::symlink(&root, root.join("a/up")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("gone.txt")).unwrap();
        // A link to itself cannot be examined (ELOOP): kept, like an unreadable directory.
        std::os::unix::fs::symlink(root.join("self"), root.join("self")).unwrap();
        let rules = Rules::new(&[], &[], false).unwrap();
        let c = rules.collect(std::slice::from_ref(&root)).unwrap();
        assert_eq!(
            names(&c, &root),
            ["a/x.txt", "b/deep/z.txt", "b/y.txt", "c.txt"]
        );
        assert_eq!(c.errors.len(), 3, "{:?}", c.errors);
        assert_eq!(c.unreadable, [root.join("self")]);
    }
}
