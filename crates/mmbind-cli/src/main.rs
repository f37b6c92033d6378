//! The command line: clap definitions in one place, one file per command.
//!
//! Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 ok, 1 some
//! inputs failed (each named on stderr), 2 usage or fatal error.

mod add;
mod answer;
mod backends;
mod batch;
mod choice;
mod classify;
mod collect;
mod embed;
mod eval;
mod export;
mod file_list;
mod flags;
mod import;
mod index;
mod inputs;
mod output;
mod parquet;
mod process;
mod protocol;
mod query;
mod report;
mod results;
mod serve;
mod train;
mod world;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use mmbind::Choice;
use mmbind::backend::{self, BackendChoice, Compute};

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 some inputs could not be used (each is named on stderr; the rest were done); 2 usage or fatal error; 130 interrupted by Ctrl-C (what was done is saved).
Backends: `auto` uses wgpu on a hardware GPU and ndarray otherwise (a software Vulkan/GL adapter is \
correct but ~15x slower than ndarray, so `auto` skips it; `--backend wgpu` still uses it).";

/// Bind six modalities — vision, text, audio, depth, thermal, IMU — into one embedding space.
#[derive(Debug, Parser)]
#[command(name = "mmbind", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Compute backend.
    #[arg(long, global = true, value_parser = choice::choice::<BackendChoice>(), default_value = BackendChoice::Auto.name())]
    pub backend: BackendChoice,
    /// The wgpu adapter to compute on: its number in `mmbind backends`, or part of its name
    /// (implies wgpu; a multi-GPU host's workers each name their own, since wgpu does not
    /// read CUDA_VISIBLE_DEVICES).
    #[arg(long, global = true, value_name = "N|NAME")]
    pub adapter: Option<String>,
    /// CPU threads for the ndarray backend (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what is happening (device, timings).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Raise or lower a bound on what one input may cost, NAME=N (repeatable; see --help).
    #[arg(
        long = "limit",
        global = true,
        value_name = "NAME=N",
        value_parser = parse_limit,
        long_help = mmbind_modalities::limits::help()
    )]
    pub limits: Vec<String>,
}

/// Checks one `--limit` at parse time, so a typo is a usage error before any work starts.
fn parse_limit(s: &str) -> Result<String, String> {
    mmbind_modalities::Limits::default().set(s)?;
    Ok(s.to_string())
}

impl GlobalArgs {
    /// The input limits these flags ask for: the defaults with each `--limit` applied.
    pub fn limits(&self) -> mmbind_modalities::Limits {
        let mut limits = mmbind_modalities::Limits::default();
        for assignment in &self.limits {
            // Validated by `parse_limit`.
            let _ = limits.set(assignment);
        }
        limits
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Import(import::ImportArgs),
    Embed(embed::EmbedArgs),
    Classify(classify::ClassifyArgs),
    World(world::WorldArgs),
    Train(train::TrainArgs),
    Eval(eval::EvalArgs),
    Index(index::IndexArgs),
    Query(query::QueryArgs),
    Add(add::AddArgs),
    Batch(batch::BatchArgs),
    Serve(serve::ServeArgs),
    Export(export::ExportArgs),
    Backends(backends::BackendsArgs),
}

/// What a command reports back besides its output.
pub enum Outcome {
    Ok,
    /// Some inputs were skipped (already reported on stderr).
    Partial,
    /// Stopped by Ctrl-C after saving what was done.
    Interrupted,
}

impl GlobalArgs {
    /// Sets the device up once, printing `auto`'s notice unless `--quiet`.
    pub fn compute(&self) -> anyhow::Result<Compute> {
        let compute = backend::select_on(self.backend, self.adapter.as_deref())?;
        if let Some(notice) = &compute.notice
            && !self.quiet
        {
            eprintln!("{notice}");
        }
        if self.verbose {
            eprintln!(
                "backend: {}{}",
                compute.backend,
                compute
                    .adapter
                    .as_deref()
                    .map(|a| format!(" on {a}"))
                    .unwrap_or_default()
            );
        }
        Ok(compute)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        cli.global.threads != Some(0),
        "--threads must be at least 1"
    );
    process::set_up(&process::Setup {
        threads: cli.global.threads,
        training: matches!(cli.command, Command::Train(_)),
    });
    cli.global.limits().install();
    match &cli.command {
        Command::Import(args) => import::run(args, &cli.global),
        Command::Embed(args) => embed::run(args, &cli.global),
        Command::Classify(args) => classify::run(args, &cli.global),
        Command::World(args) => world::run(args, &cli.global),
        Command::Train(args) => train::run(args, &cli.global),
        Command::Eval(args) => eval::run(args, &cli.global),
        Command::Index(args) => index::run(args, &cli.global),
        Command::Query(args) => query::run(args, &cli.global),
        Command::Add(args) => add::run(args, &cli.global),
        Command::Batch(args) => batch::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
        Command::Export(args) => export::run(args, &cli.global),
        Command::Backends(args) => backends::run(args),
    }
}

/// Parses the command line, runs, prints the error chain once, and maps the outcome to an
/// exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, joined by ": ". A cause its parent already quotes
/// is left out: the library's I/O errors say "{path}: {os message}" and keep the OS error as
/// their source too (so `is_broken_pipe` and callers can see its kind), and `{e:#}` alone
/// would print the OS message twice.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn error_line_quotes_each_cause_once() {
        let os = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let io = mmbind::Error::Io {
            path: "w/pairs.jsonl".into(),
            source: os(),
        };
        let line = error_line(&anyhow::Error::new(io).context("cannot load the dataset"));
        assert_eq!(
            line,
            format!("cannot load the dataset: w/pairs.jsonl: {}", os())
        );
        // A cause its parent does not quote is kept.
        let line = error_line(&anyhow::Error::new(os()).context("reading w"));
        assert_eq!(line, format!("reading w: {}", os()));
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The flags made from `Modality::ALL`: one of each kind per modality, read back into
    /// the right modality, in flag order.
    #[test]
    fn modality_flags_are_made_for_every_modality_and_read_back() {
        use mmbind_modalities::{Modality, Source};
        let cmd = Cli::command();
        for (sub, prefixes) in [
            ("embed", &["", "text-file"][..]),
            ("add", &["", "minus-"][..]),
        ] {
            let sub = cmd.find_subcommand(sub).expect("listed");
            for m in Modality::ALL {
                for p in prefixes {
                    let flag = match *p {
                        "" => m.name().to_string(),
                        "text-file" if m == Modality::Text => "text-file".into(),
                        "text-file" => continue,
                        p => format!("{p}{m}"),
                    };
                    assert!(
                        sub.get_arguments().any(|a| a.get_long() == Some(&flag)),
                        "--{flag}"
                    );
                }
            }
        }
        let cli = Cli::try_parse_from([
            "mmbind",
            "embed",
            "--model",
            "m",
            "--depth",
            "d.png",
            "--text",
            "a dog",
            "--text-file",
            "t.txt",
            "--depth",
            "e.png",
        ])
        .unwrap();
        let Command::Embed(args) = cli.command else {
            panic!("embed")
        };
        assert_eq!(
            args.inputs.files[Modality::Depth],
            ["d.png", "e.png"].map(std::path::PathBuf::from)
        );
        assert_eq!(
            args.inputs.files[Modality::Text],
            [std::path::PathBuf::from("t.txt")]
        );
        assert_eq!(args.inputs.text, ["a dog"]);
        assert!(args.inputs.files[Modality::Vision].is_empty());
        let cli = Cli::try_parse_from([
            "mmbind",
            "add",
            "--index",
            "i",
            "--minus-imu",
            "0.5:x.csv",
            "--text",
            "-1:snow",
            "--vision",
            "v.png",
        ])
        .unwrap();
        let Command::Add(args) = cli.command else {
            panic!("add")
        };
        let terms: Vec<_> = args
            .terms
            .terms()
            .into_iter()
            .map(|t| (t.modality, t.weight, t.source))
            .collect();
        assert_eq!(
            terms,
            [
                (Modality::Vision, 1.0, Source::File("v.png".into())),
                (Modality::Text, -1.0, Source::Text("snow".into())),
                (Modality::Imu, -0.5, Source::File("x.csv".into())),
            ]
        );
    }
}
