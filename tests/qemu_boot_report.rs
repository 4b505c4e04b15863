//! The boot report (`docs/boot-report.md`) under QEMU beside the emulated host.
//!
//! - With a host that offers no dxg channel (`HostOptions::offer_dxg` off, `--no-dxg-offer`),
//!   the report names the stage that failed (`offers`: VMBus works and all offers are in, but
//!   there is nothing for GPU-PV to use), ends `result fail`, and the run fails.
//! - On the normal path the report walks the stages in order, its lines have the documented
//!   shapes, the boot stub's lines come first (on COM1 through OVMF's console mirror) and show
//!   that the firmware's graphics console is still connected after the stub opened the GOP
//!   (defect 11), the `gpupv-check` application's lines end `hvdiag: gpupv-check: passed`
//!   before the result, and `result ok` comes before the applications run.

use dxgos::{GuestExit, Mode, RunConfig, run};

/// Stage names in boot order (`kernel/src/diagnostics`).
const STAGES: [&str; 10] = [
    "firmware",
    "acpi",
    "hypervisor",
    "synic",
    "vmbus",
    "offers",
    "vpci-d0",
    "dxg-io-space",
    "adapter-active",
    "gpupv-check",
];

fn report_lines(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|line| line.starts_with("hvdiag: "))
        .collect()
}

/// The stages the report entered, in order (`hvdiag: stage <name>` lines).
fn entered_stages<'a>(report: &[&'a str]) -> Vec<&'a str> {
    report
        .iter()
        .filter_map(|line| line.strip_prefix("hvdiag: stage "))
        .collect()
}

fn stage_index(stage: &str) -> usize {
    STAGES
        .iter()
        .position(|known| *known == stage)
        .unwrap_or_else(|| panic!("unknown stage {stage:?}"))
}

fn find<'a>(report: &[&'a str], prefix: &str, console: &str) -> &'a str {
    report
        .iter()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in the console:\n{console}"))
}

/// `word=0x<hex>` with lower-case hex digits and no separators.
fn is_hex_word(word: &str, key: &str) -> bool {
    word.strip_prefix(key)
        .and_then(|value| value.strip_prefix("=0x"))
        .is_some_and(|digits| {
            !digits.is_empty()
                && digits
                    .chars()
                    .all(|digit| digit.is_ascii_digit() || ('a'..='f').contains(&digit))
        })
}

#[test]
fn a_host_without_dxg_offers_fails_the_report_at_the_offers_stage() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "report-no-dxg".into();
    config.host.offer_dxg = false;
    let outcome = run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"));
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Failure, "console:\n{console}");
    let report = report_lines(console);
    let results: Vec<&&str> = report
        .iter()
        .filter(|line| line.starts_with("hvdiag: result "))
        .collect();
    assert_eq!(results.len(), 1, "one result line; console:\n{console}");
    let result = *results[0];
    assert!(
        result.starts_with("hvdiag: result fail stage=offers reason="),
        "{result}"
    );
    assert!(result.contains("no dxg global channel"), "{result}");
    assert_eq!(
        report.last(),
        Some(&result),
        "the result is the report's last line"
    );
    assert_eq!(entered_stages(&report), STAGES[..=stage_index("offers")]);
    let offers = find(&report, "hvdiag: offers ", console);
    assert!(
        offers.contains(" dxg-global=0 dxg-vgpu=0 "),
        "the summary counts no dxg channel: {offers}"
    );
    for line in report
        .iter()
        .filter(|line| line.starts_with("hvdiag: offer "))
    {
        let dxg = line.contains("class=dxg-global ") || line.contains("class=dxg-vgpu ");
        assert!(!dxg, "no dxg offer expected: {line}");
    }
    println!("QEMU checked: {result}");
}

#[test]
fn the_normal_boot_reports_every_step_and_ends_ok_before_the_applications() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "report-ok".into();
    let outcome = run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"));
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Success, "console:\n{console}");
    let report = report_lines(console);

    // The stub's part first, with the GOP opened shared (defect 11: an exclusive open stops
    // the graphics console, which then no longer sits on the GOP handle).
    assert!(
        report[0].starts_with("hvdiag: firmware vendor="),
        "{}",
        report[0]
    );
    let gop = find(&report, "hvdiag: firmware gop ", console);
    assert!(gop.contains(" open=shared "), "{gop}");
    assert!(
        gop.ends_with(" console-on-gop=1"),
        "the firmware's graphics console must survive the stub's GOP open: {gop}"
    );
    find(&report, "hvdiag: firmware memory-map entries=", console);

    // Stages: strictly in order, from firmware to gpupv-check.
    let stages = entered_stages(&report);
    let indexes: Vec<usize> = stages.iter().map(|stage| stage_index(stage)).collect();
    assert!(
        indexes.windows(2).all(|pair| pair[0] < pair[1]),
        "stages out of order: {stages:?}"
    );
    assert_eq!(
        stages[..=stage_index("vpci-d0")],
        STAGES[..=stage_index("vpci-d0")]
    );
    assert_eq!(stages.last(), Some(&"gpupv-check"));

    // Line shapes.
    let platform = find(&report, "hvdiag: platform ", console);
    let words: Vec<&str> = platform.split(' ').collect();
    assert!(
        words[2].starts_with("oem=") && words[2].len() > 4,
        "{platform}"
    );
    assert!(words[3].starts_with("hypervisor="), "{platform}");
    assert!(words[4].starts_with("version="), "{platform}");
    // Under the emulated host the line names the link the runner chose (DXGOS_LINK, ivshmem
    // when unset or anything else).
    if words[3] == "hypervisor=dxgos-emulator" {
        let link = match std::env::var("DXGOS_LINK").as_deref() {
            Ok("com2") => "link=com2",
            _ => "link=ivshmem",
        };
        assert_eq!(words.last(), Some(&link), "{platform}");
    }
    let leaves: Vec<&&str> = report
        .iter()
        .filter(|line| line.starts_with("hvdiag: cpuid 0x4"))
        .collect();
    assert!(!leaves.is_empty(), "no CPUID leaves: {console}");
    for leaf in leaves {
        let words: Vec<&str> = leaf.split(' ').collect();
        assert_eq!(words.len(), 7, "{leaf}");
        for (word, key) in words[3..].iter().zip(["eax", "ebx", "ecx", "edx"]) {
            assert!(is_hex_word(word, key), "{leaf}");
        }
    }
    let vmbus = find(&report, "hvdiag: vmbus ", console);
    assert!(
        vmbus.starts_with("hvdiag: vmbus version=5.3 connection="),
        "{vmbus}"
    );
    assert!(!vmbus.ends_with("connection=unknown"), "{vmbus}");
    let global = find(&report, "hvdiag: offer class=dxg-global ", console);
    for key in ["type=", "instance=", "relid=", "connection=", "mmio="] {
        assert!(global.contains(key), "{key} missing: {global}");
    }
    find(&report, "hvdiag: adapter ", console);
    let check = find(&report, "hvdiag: gpupv adapters=1 ", console);
    assert!(check.ends_with(" paravirtualized=1"), "{check}");
    find(&report, "hvdiag: gpupv device create+destroy ok ", console);

    // The gpupv-check application's lines, its verdict last, then the result.
    let check_lines: Vec<&&str> = report
        .iter()
        .filter(|line| line.starts_with("hvdiag: gpupv-check: "))
        .collect();
    for step in [
        "enumerate adapters: 1 adapter(s)",
        "query driver description: \"dxgos emulated vGPU\"",
        "create existing-heap allocation: handle ",
        "write and read back: 8192 bytes verified",
        "read fence page: 1",
        "object count after: 0 dxg objects",
    ] {
        let prefix = format!("hvdiag: gpupv-check: {step}");
        find(&report, &prefix, console);
    }
    assert_eq!(
        check_lines.last().map(|line| **line),
        Some("hvdiag: gpupv-check: passed"),
        "the verdict is gpupv-check's last line; console:\n{console}"
    );
    let result = "hvdiag: result ok stage=gpupv-check reason=none";
    let verdict_index = report
        .iter()
        .position(|line| *line == "hvdiag: gpupv-check: passed");
    let result_index = report.iter().position(|line| *line == result);
    assert!(
        verdict_index < result_index && verdict_index.is_some(),
        "hvdiag: gpupv-check: passed comes before the result"
    );

    // The result, then the applications.
    let result_at = console
        .find(result)
        .unwrap_or_else(|| panic!("no {result:?} in the console:\n{console}"));
    let first_application = console
        .find("d3dkmt-info:")
        .expect("d3dkmt-info printed nothing");
    assert!(
        result_at < first_application,
        "the result comes before the applications"
    );
    println!(
        "QEMU checked: {} report lines, stages {stages:?}, {result}",
        report.len()
    );
}
