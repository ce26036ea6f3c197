// The allocator matters on the apply path: every entry allocates its command, its writes and
// its output. mimalloc cut a native KV put from 1.7 to 1.2 us against glibc's malloc here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wasmraft::process::without_transparent_huge_pages();
    wasmraft::cli::main()
}
