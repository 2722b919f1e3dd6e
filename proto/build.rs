//! Compiles `proto/*.proto` with protox (pure Rust), so no system `protoc` is needed.

fn main() {
    let files = [
        "proto/store/edge/v1/events.proto",
        "proto/store/edge/v1/control.proto",
        "proto/store/edge/v1/hq.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"]).expect("the .proto files must compile");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost-build must generate code from the descriptor set");
}
