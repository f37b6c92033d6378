//! The input flags every embedding command shares, and turning them into items.

use std::path::{Path, PathBuf};

use clap::{ArgAction, ArgMatches, Command};
use mmbind_modalities::prepare::{extensions_for, files_help};
use mmbind_modalities::{Modality, PerModality};

use mmbind::embed::Item;

/// Inputs, by modality. Each file flag takes files or directories (walked recursively for
/// that modality's extensions, hidden entries skipped) and may be repeated. The flags are
/// made from [`Modality::ALL`] (`--vision`, `--audio`, …; text files are `--text-file`
/// because `--text` takes the text itself), with help from each modality's decoder.
#[derive(Debug, Clone, Default)]
pub struct InputArgs {
    pub files: PerModality<Vec<PathBuf>>,
    /// Inline text.
    pub text: Vec<String>,
}

/// The flag that takes files of `m`.
pub fn files_flag(m: Modality) -> &'static str {
    match m {
        Modality::Text => "text-file",
        _ => m.name(),
    }
}

const INLINE_TEXT: &str = "text";

/// `--vision, --text, …`: one flag per modality, for messages that list them.
pub fn modality_flags() -> String {
    Modality::ALL.map(|m| format!("--{m}")).join(", ")
}

impl InputArgs {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.files.iter().all(|(_, f)| f.is_empty())
    }

    /// The items, in the order given (directories expanded in sorted order), and one message
    /// for every path that cannot be listed.
    pub fn items(&self) -> (Vec<Item>, Vec<String>) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        for (m, paths) in self.files.iter() {
            for p in paths {
                expand(m, p, &mut items, &mut errors);
            }
        }
        items.extend(self.text.iter().map(Item::text));
        (items, errors)
    }
}

fn repeated(id: &'static str, value_name: &'static str, help: &'static str) -> clap::Arg {
    clap::Arg::new(id)
        .long(id)
        .value_name(value_name)
        .num_args(1..)
        .action(ArgAction::Append)
        .help(help)
}

crate::flags::built_flags!(InputArgs);

impl InputArgs {
    fn flags(mut cmd: Command) -> Command {
        for m in Modality::ALL {
            if m == Modality::Text {
                cmd = cmd.arg(repeated(
                    INLINE_TEXT,
                    "TEXT",
                    "Inline text (CLIP BPE, 77 tokens for ImageBind; longer text is truncated)",
                ));
            }
            cmd = cmd.arg(
                repeated(files_flag(m), "PATH", files_help(m))
                    .value_parser(clap::value_parser!(PathBuf)),
            );
        }
        cmd
    }

    fn read(&mut self, matches: &ArgMatches) {
        for m in Modality::ALL {
            if let Some(v) = matches.get_many::<PathBuf>(files_flag(m)) {
                self.files[m] = v.cloned().collect();
            }
        }
        if let Some(v) = matches.get_many::<String>(INLINE_TEXT) {
            self.text = v.cloned().collect();
        }
    }
}

/// A file is taken as it is (its content decides whether it is usable); a directory is
/// walked for `m`'s extensions.
fn expand(m: Modality, path: &Path, items: &mut Vec<Item>, errors: &mut Vec<String>) {
    if !path.is_dir() {
        items.push(Item::file(m, path));
        return;
    }
    let exts = extensions_for(m);
    // Links are followed so that a dangling one is reported rather than silently skipped.
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let ext = e
                    .path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .map(str::to_ascii_lowercase);
                if ext.is_some_and(|x| exts.contains(&x.as_str())) {
                    items.push(Item::file(m, e.path()));
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(format!(
                "{}: {}",
                e.path().unwrap_or(path).display(),
                e.io_error()
                    .map(|io| io.to_string())
                    .unwrap_or_else(|| e.to_string())
            )),
        }
    }
}
