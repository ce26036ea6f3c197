//! Compiles the gRPC protocols with protox (pure Rust), so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/wasmraft/v1/client.proto", "proto/wasmraft/v1/peer.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    // What the client door's reflection service describes: the client API (and whatever it
    // imports), not the peer protocol.
    let client = protox::compile([files[0]], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("client_descriptor.bin"), protox::prost::Message::encode_to_vec(&client))?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
