//! The stub's part of the boot report (`docs/boot-report.md`): `hvdiag: firmware ...` lines
//! about the firmware, its console, the GOP framebuffer and the memory map, written before the
//! stub takes the framebuffer and leaves boot services.
//!
//! Each line goes to the firmware console (ConOut: the screen, and a serial port where the
//! firmware mirrors its console there, as OVMF does) and, when no console output is a serial
//! terminal, straight to COM1. The Hyper-V Gen2 firmware creates its COM1 serial device only
//! when the VM's console mode is COM1 (microsoft/mu_msvm `MsvmPkg/SerialDxe/Serial.c`); in the
//! default mode (video and keyboard) COM1 is free and the stub drives it itself.

use core::fmt::{self, Write};

use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams, SearchType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::console::text::Output;
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::{Handle, Identify};

use crate::com1::Com1;

/// Where report lines go.
pub struct Reporter {
    /// COM1 driven directly (none when the firmware's console already reaches a serial port,
    /// or COM1 is absent).
    com1: Option<Com1>,
    /// Whether a console output is a serial terminal.
    serial_console: bool,
}

impl Reporter {
    /// Finds out whether the firmware console reaches a serial port; if not, takes COM1.
    pub fn new() -> Reporter {
        let serial_console = console_has_serial_terminal();
        let com1 = if serial_console { None } else { Com1::probe() };
        Reporter {
            com1,
            serial_console,
        }
    }

    /// Writes `hvdiag: ` and `arguments` as one line (only while boot services run: the stub
    /// reports nothing after it left them).
    pub fn line(&mut self, arguments: fmt::Arguments<'_>) {
        uefi::system::with_stdout(|output| {
            let _ = output.write_fmt(format_args!("hvdiag: {arguments}\r\n"));
        });
        if let Some(com1) = &mut self.com1 {
            let _ = com1.write_fmt(format_args!("hvdiag: {arguments}\r\n"));
        }
    }

    /// Writes the firmware's identity and where the report goes.
    pub fn report_firmware(&mut self) {
        let vendor = uefi::system::firmware_vendor();
        let mut vendor_word = Word::<48>::new();
        for character in vendor.iter() {
            let character = char::from(*character);
            let _ = vendor_word.write_char(if character == ' ' { '_' } else { character });
        }
        let revision = uefi::system::uefi_revision();
        self.line(format_args!(
            "firmware vendor={} revision=0x{:x} uefi={}.{}",
            vendor_word.as_str(),
            uefi::system::firmware_revision(),
            revision.major(),
            revision.minor()
        ));
        self.line(format_args!(
            "firmware console serial-terminal={} com1-direct={}",
            u8::from(self.serial_console),
            u8::from(self.com1.is_some())
        ));
    }

    /// Summarises the memory map as it is now: entries, MiB per kind, the highest address.
    pub fn report_memory_map(&mut self) {
        let Ok(map) = boot::memory_map(boot::MemoryType::LOADER_DATA) else {
            self.line(format_args!("firmware memory-map unavailable"));
            return;
        };
        let mut totals = MemoryTotals::default();
        for descriptor in map.entries() {
            totals.add(descriptor.ty, descriptor.page_count * 4096);
            totals.highest = totals
                .highest
                .max(descriptor.phys_start + descriptor.page_count * 4096);
        }
        self.line(format_args!(
            "firmware memory-map entries={} conventional={} MiB boot-services={} MiB loader={} MiB runtime={} MiB acpi-reclaim={} KiB acpi-nvs={} KiB mmio={} MiB reserved={} MiB other={} MiB highest=0x{:x}",
            map.len(),
            totals.conventional >> 20,
            totals.boot_services >> 20,
            totals.loader >> 20,
            totals.runtime >> 20,
            totals.acpi_reclaim >> 10,
            totals.acpi_nvs >> 10,
            totals.mmio >> 20,
            totals.reserved >> 20,
            totals.other >> 20,
            totals.highest
        ));
    }
}

#[derive(Default)]
struct MemoryTotals {
    conventional: u64,
    boot_services: u64,
    loader: u64,
    runtime: u64,
    acpi_reclaim: u64,
    acpi_nvs: u64,
    mmio: u64,
    reserved: u64,
    other: u64,
    highest: u64,
}

impl MemoryTotals {
    fn add(&mut self, kind: boot::MemoryType, bytes: u64) {
        use boot::MemoryType as Kind;
        let total = match kind {
            Kind::CONVENTIONAL => &mut self.conventional,
            Kind::BOOT_SERVICES_CODE | Kind::BOOT_SERVICES_DATA => &mut self.boot_services,
            Kind::LOADER_CODE | Kind::LOADER_DATA => &mut self.loader,
            Kind::RUNTIME_SERVICES_CODE | Kind::RUNTIME_SERVICES_DATA => &mut self.runtime,
            Kind::ACPI_RECLAIM => &mut self.acpi_reclaim,
            Kind::ACPI_NON_VOLATILE => &mut self.acpi_nvs,
            Kind::MMIO | Kind::MMIO_PORT_SPACE => &mut self.mmio,
            Kind::RESERVED | Kind::UNUSABLE => &mut self.reserved,
            _ => &mut self.other,
        };
        *total = total.saturating_add(bytes);
    }
}

/// Whether `handle` carries a text output (the graphics console puts one on the GOP handle
/// while it is connected: edk2 `GraphicsConsoleDxe/GraphicsConsole.c`).
pub fn has_text_output(handle: Handle) -> bool {
    boot::test_protocol::<Output>(OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    })
    .unwrap_or(false)
}

/// Whether any text output's device path has a UART node (a terminal on a serial port).
fn console_has_serial_terminal() -> bool {
    let Ok(handles) = boot::locate_handle_buffer(SearchType::ByProtocol(&Output::GUID)) else {
        return false;
    };
    handles.iter().any(|handle| {
        // SAFETY: GetProtocol opens the device path without taking it; nothing disconnects
        // drivers while this function runs, so it stays installed until the scope ends.
        let path = unsafe {
            boot::open_protocol::<DevicePath>(
                OpenProtocolParams {
                    handle: *handle,
                    agent: boot::image_handle(),
                    controller: None,
                },
                OpenProtocolAttributes::GetProtocol,
            )
        };
        path.is_ok_and(|path| {
            path.node_iter().any(|node| {
                node.device_type() == DeviceType::MESSAGING
                    && node.sub_type() == DeviceSubType::MESSAGING_UART
            })
        })
    })
}

/// A short text buffer on the stack (the firmware vendor, as one `key=value` word).
struct Word<const N: usize> {
    bytes: [u8; N],
    length: usize,
}

impl<const N: usize> Word<N> {
    fn new() -> Self {
        Word {
            bytes: [0; N],
            length: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("?")
    }
}

impl<const N: usize> Write for Word<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if self.length == N {
                break;
            }
            self.bytes[self.length] = if byte.is_ascii_graphic() { byte } else { b'?' };
            self.length += 1;
        }
        Ok(())
    }
}
