//! Which files `mmbind index` takes, and as which modality: the walk, `--exclude`,
//! `--include-hidden` and `--modality-of`.

use std::collections::BTreeMap;
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
    /// `path: reason` for everything that could not be listed.
    pub errors: Vec<String>,
    /// Files skipped because no rule and no known extension gives them a modality.
    pub ignored: usize,
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
        let mut out = Collected::default();
        for root in roots {
            let root = std::path::absolute(root)?;
            let md = std::fs::metadata(&root)
                .map_err(|e| anyhow::anyhow!("{}: {e} (nothing indexed)", root.display()))?;
            if !md.is_dir() {
                match self.modality(&root) {
                    Some(m) => {
                        out.files.insert(root, m);
                    }
                    None => anyhow::bail!(
                        "{}: cannot tell its modality from the extension; say it with --modality-of",
                        root.display()
                    ),
                }
                continue;
            }
            let walk = walkdir::WalkDir::new(&root)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !self.skipped(e.path(), e.depth() == 0));
            for entry in walk {
                match entry {
                    Ok(e) if e.file_type().is_file() => match self.modality(e.path()) {
                        Some(m) => {
                            out.files.insert(e.into_path(), m);
                        }
                        None => out.ignored += 1,
                    },
                    Ok(_) => {}
                    Err(e) => out.errors.push(format!(
                        "{}: {}",
                        e.path().unwrap_or(&root).display(),
                        e.io_error()
                            .map(|io| io.to_string())
                            .unwrap_or_else(|| e.to_string())
                    )),
                }
            }
        }
        Ok(out)
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
}
