//! `mmbind index --check [--repair]`: verify every index file, rebuild what is derived,
//! and report the findings as text or JSON.

use std::io::Write;

use mmbind_index::{CheckReport, FileState, Index, RepairReport};

use super::{IndexArgs, SummaryFormat, wait_of};
use crate::Outcome;

/// `index --check [--repair]`: verify everything, rebuild what is derived, report.
pub(super) fn check(args: &IndexArgs) -> anyhow::Result<Outcome> {
    let wait = wait_of(args)?;
    let mut index = Index::open(&args.index)?;
    let rep = index.check()?;
    // Derived files are rebuilt unless they verify and are current (a graph only if there is
    // one); the database is touched only when asked to or when SQLite's own check failed.
    let rebuild = rep.matrix != FileState::Fresh
        || !matches!(rep.approx, FileState::Fresh | FileState::Missing)
        || !rep.sqlite.is_empty()
        || rep.unverified_vectors > 0
        || (args.repair && (!rep.damaged_vectors.is_empty() || !rep.bad_files.is_empty()));
    // A repair that cannot run (another writer, a read-only directory) does not hide the
    // findings: they are printed, then the error (exit 2).
    let mut repair_error = None;
    let repaired = if rebuild {
        match index.repair(wait, args.repair) {
            Ok(r) => Some(r),
            Err(e) => {
                repair_error = Some(e);
                None
            }
        }
    } else {
        None
    };
    let found = Found {
        dir: args.index.display().to_string(),
        rep,
        repaired,
        warnings: index.take_warnings(),
    };
    match args.format {
        SummaryFormat::Json => println!(
            "{}",
            found.json(repair_error.as_ref().map(|e| e.to_string()))
        ),
        SummaryFormat::Text => found.write_text(&mut std::io::stdout().lock(), args.repair)?,
    }
    if let Some(e) = repair_error {
        return Err(anyhow::Error::new(e).context("could not repair"));
    }
    Ok(if found.rep.is_clean() {
        Outcome::Ok
    } else {
        Outcome::Partial
    })
}

/// What a check found and what its repair did.
struct Found {
    dir: String,
    rep: CheckReport,
    repaired: Option<RepairReport>,
    warnings: Vec<String>,
}

impl Found {
    fn json(&self, repair_error: Option<String>) -> serde_json::Value {
        let rep = &self.rep;
        let repaired = self.repaired.as_ref().map(|r| {
            serde_json::json!({
                "reindexed": r.reindexed,
                "sqlite": r.sqlite,
                "dropped_rows": r.dropped_rows,
                "checksums_filled": r.checksums_filled,
                "matrix_rebuilt": r.rebuild.matrix_rebuilt,
                "approx_rebuilt": r.rebuild.approx_built.is_some(),
                "dropped": r.rebuild.dropped.iter()
                    .map(|(p, why)| serde_json::json!({"path": p, "reason": why}))
                    .collect::<Vec<_>>(),
                "warnings": self.warnings,
            })
        });
        serde_json::json!({
            "index": self.dir,
            "clean": rep.is_clean(),
            "files": rep.files,
            "vectors": rep.vectors,
            "orphan_vectors": rep.orphan_vectors,
            "generation": rep.generation,
            "sqlite": rep.sqlite,
            "bad_files": rep.bad_files,
            "damaged_vectors": rep.damaged_vectors.iter()
                .map(|v| serde_json::json!({"id": v.id, "reason": v.reason, "paths": v.paths}))
                .collect::<Vec<_>>(),
            "unverified_vectors": rep.unverified_vectors,
            "matrix": state_json(&rep.matrix),
            "approx": state_json(&rep.approx),
            "damage": rep.damage(),
            "repaired": repaired,
            "repair_error": repair_error,
        })
    }

    fn write_text(&self, out: &mut impl Write, repair: bool) -> std::io::Result<()> {
        let rep = &self.rep;
        let ok_or = |v: &[String]| {
            if v.is_empty() {
                "ok".to_string()
            } else {
                format!("DAMAGED: {}", v.join("; "))
            }
        };
        writeln!(
            out,
            "index {}: {} files, {} stored vectors, generation {}",
            self.dir, rep.files, rep.vectors, rep.generation
        )?;
        writeln!(out, "  SQLite integrity check: {}", ok_or(&rep.sqlite))?;
        writeln!(out, "  file rows: {}", ok_or(&rep.bad_files))?;
        self.write_vectors(out)?;
        writeln!(out, "  search matrix: {}", state_text(&rep.matrix))?;
        writeln!(out, "  HNSW graph: {}", state_text(&rep.approx))?;
        if let Some(r) = &self.repaired {
            write_repairs(out, r)?;
        }
        for w in &self.warnings {
            writeln!(out, "note: {w}")?;
        }
        if !rep.is_clean() && !repair && !rep.damaged_paths().is_empty() {
            self.write_advice(out)?;
        }
        let damage = rep.damage();
        writeln!(
            out,
            "{}",
            if rep.is_clean() {
                "clean".to_string()
            } else {
                format!(
                    "damage found: {} problem{}",
                    damage.len(),
                    if damage.len() == 1 { "" } else { "s" }
                )
            }
        )
    }

    /// The stored vectors' line: all verified, or each damaged one with its files.
    fn write_vectors(&self, out: &mut impl Write) -> std::io::Result<()> {
        let rep = &self.rep;
        if rep.damaged_vectors.is_empty() {
            return writeln!(
                out,
                "  stored vectors: ok ({} verified{})",
                rep.vectors - rep.unverified_vectors,
                if rep.unverified_vectors > 0 {
                    format!(", {} without a checksum", rep.unverified_vectors)
                } else {
                    String::new()
                }
            );
        }
        writeln!(
            out,
            "  stored vectors: {} of {} DAMAGED:",
            rep.damaged_vectors.len(),
            rep.vectors
        )?;
        for v in &rep.damaged_vectors {
            let files = if v.paths.is_empty() {
                "(no file)".to_string()
            } else {
                v.paths.join(", ")
            };
            writeln!(out, "    {files}: {}", v.reason)?;
        }
        Ok(())
    }

    /// What to do about damaged files that were not dropped.
    fn write_advice(&self, out: &mut impl Write) -> std::io::Result<()> {
        let one = self.rep.damaged_paths().len() == 1;
        let them = if one { "it" } else { "them" };
        writeln!(
            out,
            "{} damaged: index {them} again (`mmbind index`), or drop {them} with `mmbind index --check --repair --index {}`",
            match self.rep.damaged_paths().len() {
                1 => "1 file's stored vector is".to_string(),
                n => format!("{n} files' stored vectors are"),
            },
            self.dir
        )
    }
}

/// One line per thing the repair did.
fn write_repairs(out: &mut impl Write, r: &RepairReport) -> std::io::Result<()> {
    if r.reindexed {
        writeln!(
            out,
            "repaired: SQLite's indexes rebuilt (REINDEX){}",
            if r.sqlite.is_empty() {
                String::new()
            } else {
                format!("; still damaged: {}", r.sqlite.join("; "))
            }
        )?;
    }
    if r.rebuild.matrix_rebuilt {
        writeln!(out, "repaired: search matrix rebuilt from the database")?;
    }
    if r.rebuild.approx_built.is_some() {
        writeln!(out, "repaired: HNSW graph rebuilt")?;
    }
    if r.checksums_filled > 0 {
        writeln!(
            out,
            "repaired: checksums computed for {} stored vectors",
            r.checksums_filled
        )?;
    }
    for row in &r.dropped_rows {
        writeln!(out, "dropped unreadable {row}")?;
    }
    for (p, why) in &r.rebuild.dropped {
        writeln!(out, "dropped {p} ({why}): index it again to embed it anew")?;
    }
    Ok(())
}

fn state_text(s: &FileState) -> String {
    match s {
        FileState::Missing => "none".into(),
        FileState::Fresh => "ok".into(),
        FileState::Stale => "stale (an update was interrupted or is running)".into(),
        FileState::OldFormat => "written by an older mmbind".into(),
        FileState::Damaged(d) => format!("DAMAGED: {d}"),
    }
}

fn state_json(s: &FileState) -> serde_json::Value {
    match s {
        FileState::Missing => "missing".into(),
        FileState::Fresh => "ok".into(),
        FileState::Stale => "stale".into(),
        FileState::OldFormat => "old_format".into(),
        FileState::Damaged(d) => serde_json::json!({ "damaged": d }),
    }
}
