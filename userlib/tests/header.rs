//! The committed C header equals the generated one, and compiles (with its layout asserts).

use std::path::PathBuf;
use std::process::Command;

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/d3dkmt_dxgos.h")
}

fn generated() -> String {
    let mut text = String::new();
    userlib::header::write_header(&mut text).unwrap();
    text
}

#[test]
fn committed_header_is_current() {
    let generated = generated();
    if std::env::var_os("DXGOS_BLESS").is_some() {
        std::fs::write(header_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(header_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "include/d3dkmt_dxgos.h is stale; regenerate with DXGOS_BLESS=1 cargo test -p dxgos-userlib --test header"
    );
}

fn compile(language: &str, extra: &[&str]) {
    let source = "#include \"d3dkmt_dxgos.h\"\nint main(void) { return (int)sizeof(D3DKMT_CREATEDEVICE) - 64; }\n";
    let directory = std::env::temp_dir().join(format!("userlib-header-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let file = directory.join(format!("check.{language}"));
    std::fs::write(&file, source).unwrap();
    let include = header_path().parent().unwrap().to_path_buf();
    let compiler = if language == "c" { "gcc" } else { "g++" };
    let output = match Command::new(compiler)
        .args(["-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args(extra)
        .arg("-I")
        .arg(&include)
        .arg(&file)
        .output()
    {
        Ok(output) => output,
        Err(error) => panic!(
            "cannot run {compiler} ({error}): the header compile check needs gcc and g++ \
             (Debian: apt-get install gcc g++; .ci/run installs them)"
        ),
    };
    assert!(
        output.status.success(),
        "{compiler} rejected the header:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn header_compiles_as_c11() {
    compile("c", &["-std=c11"]);
}

#[test]
fn header_compiles_as_cpp17() {
    compile("cpp", &["-std=c++17"]);
}
