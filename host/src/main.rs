fn main() -> std::process::ExitCode {
    wasmraft::cli::main()
}
