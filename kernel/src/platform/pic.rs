//! The legacy 8259 PICs: masked, never used. Hyper-V Gen2 VMs have none; writing the mask
//! registers there is harmless (the ports are unclaimed).

use crate::arch::cpu::write_port_u8;

/// Masks every line of both PICs.
pub fn mask_all() {
    // SAFETY: the two PICs' interrupt-mask registers (0x21, 0xA1); masking every line has no
    // memory effect (and on Hyper-V the ports are unclaimed).
    unsafe {
        write_port_u8(0x21, 0xff);
        write_port_u8(0xa1, 0xff);
    }
}
