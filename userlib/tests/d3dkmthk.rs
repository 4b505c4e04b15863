//! `include/dxg/d3dkmthk.h` (the drop-in for Microsoft's header, written by hand in Microsoft's
//! shapes: unions, bit-fields, enums) checked against the one source of truth, the Rust ABI.
//!
//! From the Rust tables this test writes a check program: the size, alignment, and every field's
//! offset and size of every ABI struct ([`userlib::abi::STRUCTS`]), every enum value of
//! [`userlib::abi::flags`] (`static_assert`s), every flag bit (set the bit-field, compare the
//! word, at run time), and in C++ every exported entry point's argument type and its
//! `PFND3DKMT_*` type. The program is compiled and run as C11 and as C++17, with
//! `-Wall -Wextra -Werror`, alone and after DirectX-Headers' `<wsl/winadapter.h>`. A second test
//! checks that the header declares exactly the entry points userlib exports, and a third
//! compiles the WSL-style program `tests/c/wsl_style_d3dkmt.cpp` with zero edits.
//!
//! The only name differences between the Rust fields and Microsoft's are listed in
//! [`C_PATHS`] (flattened union members and three renamed fields); docs/d3dkmt.md says why.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use userlib::abi::{STRUCTS, flags::CONSTANTS};
use userlib::d3dkmt::{NOT_SUPPORTED, REMAPPING_WRAPPERS};
use userlib::sys::D3DKMT_CALLS;

/// Rust fields whose C member sits at another path: a union member that Rust flattens, or a
/// field Rust names differently. `(struct, Rust field, C member path)`.
const C_PATHS: &[(&str, &str, &str)] = &[
    (
        "D3DKMT_CREATESTANDARDALLOCATION",
        "ExistingHeapSize",
        "ExistingHeapData.Size",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "BaseAddress",
        "Map.BaseAddress",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "SizeInBytes",
        "Map.SizeInBytes",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "hAllocation",
        "Map.hAllocation",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "AllocationOffsetInBytes",
        "Map.AllocationOffsetInBytes",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "AllocationSizeInBytes",
        "Map.AllocationSizeInBytes",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "Protection",
        "MapProtect.Protection",
    ),
    (
        "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION",
        "DriverProtection",
        "MapProtect.DriverProtection",
    ),
    (
        "D3DKMT_UPDATEGPUVIRTUALADDRESS",
        "pOperations",
        "Operations",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO",
        "MaxCount",
        "Semaphore.MaxCount",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO",
        "InitialCount",
        "Semaphore.InitialCount",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "InitialFenceValue",
        "MonitoredFence.InitialFenceValue",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "FenceValueCPUVirtualAddress",
        "MonitoredFence.FenceValueCPUVirtualAddress",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "FenceValueGPUVirtualAddress",
        "MonitoredFence.FenceValueGPUVirtualAddress",
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "EngineAffinity",
        "MonitoredFence.EngineAffinity",
    ),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2",
        "FenceValue",
        "Fence.FenceValue",
    ),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2",
        "FenceValue",
        "Fence.FenceValue",
    ),
    (
        "D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2",
        "FenceValueCPUVirtualAddress",
        "MonitoredFence.FenceValueCPUVirtualAddress",
    ),
    (
        "D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2",
        "FenceValueGPUVirtualAddress",
        "MonitoredFence.FenceValueGPUVirtualAddress",
    ),
    (
        "D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2",
        "EngineAffinity",
        "MonitoredFence.EngineAffinity",
    ),
    ("D3DKMT_SHAREOBJECTS", "phSharedNtHandle", "pSharedNtHandle"),
    (
        "D3DKMT_SHAREOBJECTWITHHOST",
        "hVailNtHandle",
        "hVailProcessNtHandle",
    ),
    (
        "D3DKMT_QUERYCLOCKCALIBRATION",
        "GpuFrequency",
        "ClockData.GpuFrequency",
    ),
    (
        "D3DKMT_QUERYCLOCKCALIBRATION",
        "GpuClockCounter",
        "ClockData.GpuClockCounter",
    ),
    (
        "D3DKMT_QUERYCLOCKCALIBRATION",
        "CpuClockCounter",
        "ClockData.CpuClockCounter",
    ),
    (
        "D3DKMT_QUERYCLOCKCALIBRATION",
        "ClockDataFlags",
        "ClockData.Flags",
    ),
    ("D3DKMT_QUERYSTATISTICS", "Query", "QuerySegment"),
];

/// Rust fields that stand for the rest of a union C declares whole (their offset is not the
/// union's): checked through the struct's size instead. `_`-prefixed fields (spelled-out padding
/// and union remainders) are skipped the same way.
const UNION_REMAINDERS: &[(&str, &str)] = &[
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2", "Reserved"),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2", "Reserved"),
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU", "Reserved"),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU", "Reserved"),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2", "Reserved"),
];

/// Rust fields wider than their C member: `(struct, field, C size)`. `D3DKMT_QUERYSTATISTICS`'s
/// query union holds 4-byte members; Rust's 8 bytes take in the struct's tail padding.
const NARROWER_IN_C: &[(&str, &str, usize)] = &[("D3DKMT_QUERYSTATISTICS", "Query", 4)];

/// Rust structs that are dxgos's own, not Microsoft's.
const DXGOS_ONLY_STRUCTS: &[&str] = &["DXGOS_FRAMEBUFFER_INFO"];

/// Flag-bit constants of `abi::flags` and the bit-field they name:
/// `(constant, C type, bit-field member)`. Every other constant is a C enumerator of its name.
const FLAG_BITS: &[(&str, &str, &str)] = &[
    (
        "D3DKMT_ADAPTERTYPE_RENDER_SUPPORTED",
        "D3DKMT_ADAPTERTYPE",
        "RenderSupported",
    ),
    (
        "D3DKMT_ADAPTERTYPE_DISPLAY_SUPPORTED",
        "D3DKMT_ADAPTERTYPE",
        "DisplaySupported",
    ),
    (
        "D3DKMT_ADAPTERTYPE_SOFTWARE_DEVICE",
        "D3DKMT_ADAPTERTYPE",
        "SoftwareDevice",
    ),
    (
        "D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED",
        "D3DKMT_ADAPTERTYPE",
        "Paravirtualized",
    ),
    (
        "D3DKMT_ADAPTERTYPE_COMPUTE_ONLY",
        "D3DKMT_ADAPTERTYPE",
        "ComputeOnly",
    ),
    (
        "D3DKMT_CREATEALLOCATIONFLAGS_CREATE_RESOURCE",
        "D3DKMT_CREATEALLOCATIONFLAGS",
        "CreateResource",
    ),
    (
        "D3DKMT_CREATEALLOCATIONFLAGS_CREATE_SHARED",
        "D3DKMT_CREATEALLOCATIONFLAGS",
        "CreateShared",
    ),
    (
        "D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM",
        "D3DKMT_CREATEALLOCATIONFLAGS",
        "ExistingSysMem",
    ),
    (
        "D3DKMT_CREATEALLOCATIONFLAGS_STANDARD_ALLOCATION",
        "D3DKMT_CREATEALLOCATIONFLAGS",
        "StandardAllocation",
    ),
    (
        "D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_WAIT_ANY",
        "D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_FLAGS",
        "WaitAny",
    ),
    (
        "D3DDDICB_SIGNALFLAGS_SIGNAL_AT_SUBMISSION",
        "D3DDDICB_SIGNALFLAGS",
        "SignalAtSubmission",
    ),
    (
        "D3DDDICB_SIGNALFLAGS_ENQUEUE_CPU_EVENT",
        "D3DDDICB_SIGNALFLAGS",
        "EnqueueCpuEvent",
    ),
    (
        "D3DDDICB_SIGNALFLAGS_ALLOW_FENCE_REWIND",
        "D3DDDICB_SIGNALFLAGS",
        "AllowFenceRewind",
    ),
    (
        "D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE",
        "D3DDDICB_DESTROYALLOCATION2FLAGS",
        "AssumeNotInUse",
    ),
    (
        "D3DDDICB_DESTROYALLOCATION2FLAGS_SYNCHRONOUS_DESTROY",
        "D3DDDICB_DESTROYALLOCATION2FLAGS",
        "SynchronousDestroy",
    ),
];

/// Entry points userlib exports outside the three tables (see `userlib::d3dkmt::exports`).
const OTHER_EXPORTS: &[&str] = &[
    "D3DKMTShareObjects",
    "D3DKMTSetStablePowerState",
    "D3DKMTCloseDxCoreDevice",
];

/// Exports the header leaves out: the internal name of the ShareObjects ioctl (programs call
/// `D3DKMTShareObjects`, which packs its arguments for it).
const UNDECLARED_EXPORTS: &[&str] = &["D3DKMTShareObjectsInternal"];

/// Declared entry points without a `PFND3DKMT_*` type in Microsoft's header.
const WITHOUT_PFN: &[&str] = &[
    "D3DKMTShareObjectWithHost",
    "D3DKMTCreateSyncFile",
    "D3DKMTCreateHwContext",
    "D3DKMTDestroyHwContext",
    "D3DKMTCreateTrackedWorkload",
    "D3DKMTDestroyTrackedWorkload",
    "D3DKMTGetTrackedWorkloadStatistics",
    "D3DKMTResetTrackedWorkloadStatistics",
    "D3DKMTUpdateTrackedWorkload",
    "D3DKMTGetAvailableTrackedWorkloadIndex",
    "D3DKMTCloseDxCoreDevice",
    // Microsoft's header itself disagrees: the prototype takes a const pointer, the
    // PFND3DKMT_OPENADAPTERFROMLUID type a non-const one. Both are kept as Microsoft has them.
    "D3DKMTOpenAdapterFromLuid",
];

fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include")
}

fn header_path() -> PathBuf {
    include_dir().join("dxg/d3dkmthk.h")
}

/// The include folder holding `wsl/winadapter.h` (DirectX-Headers); its `wsl/stubs` subfolder
/// goes on the include path too. Fails loudly when the package is missing.
fn directx_headers() -> PathBuf {
    let folder = std::env::var_os("DXGOS_DIRECTX_HEADERS_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    assert!(
        folder.join("wsl/winadapter.h").is_file() && folder.join("wsl/stubs/basetsd.h").is_file(),
        "{}/wsl/winadapter.h not found: the d3dkmthk.h tests need DirectX-Headers \
         (Debian: apt-get install directx-headers-dev; .ci/run installs it), or set \
         DXGOS_DIRECTX_HEADERS_INCLUDE to the folder holding wsl/winadapter.h",
        folder.display()
    );
    folder
}

/// A Rust field's C counterpart: `(member path, size)`, or `None` when it has none of its own.
fn c_member(structure: &str, field: &str, rust_size: usize) -> Option<(String, usize)> {
    if field.starts_with('_') || UNION_REMAINDERS.contains(&(structure, field)) {
        return None;
    }
    let path = C_PATHS
        .iter()
        .find(|entry| entry.0 == structure && entry.1 == field)
        .map_or(field, |entry| entry.2);
    let size = NARROWER_IN_C
        .iter()
        .find(|entry| entry.0 == structure && entry.1 == field)
        .map_or(rust_size, |entry| entry.2);
    Some((path.to_string(), size))
}

/// Every exported entry point with the argument struct the Rust side gives it (when it has one).
fn exports() -> Vec<(String, Option<&'static str>)> {
    let mut exports: Vec<(String, Option<&'static str>)> = D3DKMT_CALLS
        .iter()
        .map(|call| (call.export.to_string(), Some(call.argument)))
        .collect();
    exports.extend(
        REMAPPING_WRAPPERS
            .iter()
            .map(|wrapper| (wrapper.export.to_string(), Some(wrapper.argument))),
    );
    exports.extend(NOT_SUPPORTED.iter().map(|name| (name.to_string(), None)));
    exports.extend(OTHER_EXPORTS.iter().map(|name| (name.to_string(), None)));
    exports
}

fn declared_exports() -> Vec<(String, Option<&'static str>)> {
    exports()
        .into_iter()
        .filter(|(name, _)| !UNDECLARED_EXPORTS.contains(&name.as_str()))
        .collect()
}

/// Writes the layout, enum and flag checks (C and C++), plus the signature checks (C++ only).
fn check_program(winadapter: bool) -> String {
    let mut out = String::new();
    if winadapter {
        out.push_str("#include <wsl/winadapter.h>\n");
    }
    out.push_str("#include <dxg/d3dkmthk.h>\n#include <stdio.h>\n#include <string.h>\n\n");
    out.push_str("#ifdef __cplusplus\n#define ALIGNMENT(type) alignof(type)\n#else\n#define ALIGNMENT(type) _Alignof(type)\n#endif\n");
    out.push_str(
        "#define CHECK(condition, message) DXGOS_D3DKMT_STATIC_ASSERT(condition, message)\n\n",
    );
    write_layout_checks(&mut out);
    write_enum_checks(&mut out);
    write_signature_checks(&mut out);
    write_flag_checks(&mut out);
    out
}

fn write_layout_checks(out: &mut String) {
    for layout in STRUCTS
        .iter()
        .filter(|l| !DXGOS_ONLY_STRUCTS.contains(&l.name))
    {
        let name = layout.name;
        writeln!(
            out,
            "CHECK(sizeof({name}) == {}, \"{name} size\");",
            layout.size
        )
        .unwrap();
        writeln!(
            out,
            "CHECK(ALIGNMENT({name}) == {}, \"{name} alignment\");",
            layout.align
        )
        .unwrap();
        for field in layout.fields {
            if let Some((path, size)) = c_member(name, field.name, field.size) {
                writeln!(
                    out,
                    "CHECK(offsetof({name}, {path}) == {}, \"{name}.{path} offset\");",
                    field.offset
                )
                .unwrap();
                writeln!(
                    out,
                    "CHECK(sizeof((({name}*)0)->{path}) == {size}, \"{name}.{path} size\");"
                )
                .unwrap();
            }
        }
    }
}

fn write_enum_checks(out: &mut String) {
    for (name, value) in CONSTANTS {
        if !FLAG_BITS.iter().any(|bit| bit.0 == *name) {
            writeln!(out, "CHECK((unsigned)({name}) == {value}u, \"{name}\");").unwrap();
        }
    }
}

/// C++: each entry point takes (a pointer to, maybe const) the struct the Rust side forwards,
/// returns NTSTATUS, and has the type of its `PFND3DKMT_*`.
fn write_signature_checks(out: &mut String) {
    out.push_str("\n#ifdef __cplusplus\n#include <type_traits>\n");
    out.push_str("template <class F> struct Argument;\n");
    out.push_str("template <class R, class A> struct Argument<R (*)(A)> { typedef typename std::remove_cv<typename std::remove_pointer<A>::type>::type Type; typedef R Result; };\n");
    for (name, argument) in declared_exports() {
        if let Some(argument) = argument {
            writeln!(
                out,
                "static_assert(std::is_same<Argument<decltype(&{name})>::Type, {argument}>::value, \"{name} takes {argument}\");"
            )
            .unwrap();
            writeln!(
                out,
                "static_assert(std::is_same<Argument<decltype(&{name})>::Result, NTSTATUS>::value, \"{name} returns NTSTATUS\");"
            )
            .unwrap();
        }
        if !WITHOUT_PFN.contains(&name.as_str()) {
            let pfn = format!(
                "PFND3DKMT_{}",
                name.trim_start_matches("D3DKMT").to_uppercase()
            );
            writeln!(
                out,
                "static_assert(std::is_same<decltype(&{name}), {pfn}>::value, \"{name} is a {pfn}\");"
            )
            .unwrap();
        }
    }
    out.push_str("#endif\n\n");
}

/// Run time: setting each bit-field member sets exactly the Rust constant's bit.
fn write_flag_checks(out: &mut String) {
    out.push_str("static int failures;\n");
    out.push_str("static void expect_bits(const void* object, size_t size, unsigned long long expected, const char* name) {\n");
    out.push_str("    unsigned long long value = 0;\n    memcpy(&value, object, size);\n");
    out.push_str("    if (value != expected) { printf(\"%s: bit-field word 0x%llx, Rust constant 0x%llx\\n\", name, value, expected); failures++; }\n}\n\n");
    out.push_str("int main(void) {\n");
    for (constant, c_type, member) in FLAG_BITS {
        let value = CONSTANTS
            .iter()
            .find(|entry| entry.0 == *constant)
            .unwrap_or_else(|| panic!("{constant} is not in abi::flags::CONSTANTS"))
            .1;
        writeln!(
            out,
            "    {{ {c_type} flags; memset(&flags, 0, sizeof flags); flags.{member} = 1; expect_bits(&flags, sizeof flags, {value}ull, \"{constant}\"); }}"
        )
        .unwrap();
    }
    out.push_str("    if (failures == 0) printf(\"d3dkmthk.h checks passed\\n\");\n    return failures;\n}\n");
}

/// A scratch folder of this test process.
fn scratch(name: &str) -> PathBuf {
    let folder =
        std::env::temp_dir().join(format!("userlib-d3dkmthk-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// Runs the compiler; fails loudly when it cannot be run or rejects the source.
fn compile(cpp: bool, source: &Path, output: &Path, extra: &[&str]) {
    let compiler = if cpp { "g++" } else { "gcc" };
    let standard = if cpp { "-std=c++17" } else { "-std=c11" };
    let headers = directx_headers();
    let mut command = Command::new(compiler);
    command
        .args([standard, "-Wall", "-Wextra", "-Werror"])
        .args(extra)
        .arg("-I")
        .arg(include_dir());
    // The system include folder is searched anyway (naming it with -I would reorder it).
    if headers != Path::new("/usr/include") {
        command.arg("-I").arg(&headers);
    }
    let result = command
        .arg("-I")
        .arg(headers.join("wsl/stubs"))
        .arg(source)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {compiler} ({error}): the d3dkmthk.h tests need gcc and g++ \
                 (Debian: apt-get install gcc g++; .ci/run installs them)"
            )
        });
    assert!(
        result.status.success(),
        "{compiler} {standard} rejected {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Compiles the check program for one language and mode and runs it.
fn run_checks(cpp: bool, winadapter: bool) {
    let name = format!(
        "{}-{}",
        if cpp { "cpp" } else { "c" },
        if winadapter { "winadapter" } else { "alone" }
    );
    let folder = scratch(&name);
    let source = folder.join(if cpp { "check.cpp" } else { "check.c" });
    std::fs::write(&source, check_program(winadapter)).unwrap();
    let binary = folder.join("check");
    compile(cpp, &source, &binary, &[]);
    let result = Command::new(&binary).output().unwrap();
    assert!(
        result.status.success(),
        "{name}: the flag-bit checks failed:\n{}",
        String::from_utf8_lossy(&result.stdout)
    );
    std::fs::remove_dir_all(&folder).ok();
}

#[test]
fn layouts_enums_and_flags_match_the_rust_abi_in_c11_alone() {
    run_checks(false, false);
}

#[test]
fn layouts_enums_and_flags_match_the_rust_abi_in_c11_after_winadapter() {
    run_checks(false, true);
}

#[test]
fn layouts_enums_flags_and_signatures_match_the_rust_abi_in_cpp17_alone() {
    run_checks(true, false);
}

#[test]
fn layouts_enums_flags_and_signatures_match_the_rust_abi_in_cpp17_after_winadapter() {
    run_checks(true, true);
}

/// The header declares exactly the entry points userlib exports (less the internal one), so a
/// program that compiles against it also links.
#[test]
fn header_declares_exactly_the_exported_entry_points() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let declared: BTreeSet<String> = header
        .lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("NTSTATUS APIENTRY ")
                .or_else(|| line.strip_prefix("VOID APIENTRY "))?;
            Some(rest.split('(').next()?.to_string())
        })
        .collect();
    let exported: BTreeSet<String> = declared_exports().into_iter().map(|e| e.0).collect();
    let missing: Vec<_> = exported.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&exported).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "exported but not declared: {missing:?}; declared but not exported: {extra:?}"
    );
}

/// A program written the way WSL D3DKMT code is written builds against the package's
/// winadapter.h and this header with zero edits (it runs in QEMU once the guest C/C++ runtime
/// exists; here it is compiled only).
#[test]
fn wsl_style_program_compiles_unchanged() {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c/wsl_style_d3dkmt.cpp");
    let folder = scratch("wsl-style");
    compile(
        true,
        &source,
        &folder.join("wsl_style_d3dkmt.o"),
        &["-c", "-pthread"],
    );
    std::fs::remove_dir_all(&folder).ok();
}
