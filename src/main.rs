fn main() -> std::process::ExitCode {
    mmbind::cli::main()
}
