//! The legacy 8259 PICs: masked, never used. Hyper-V Gen2 VMs have none; writing the mask
//! registers there is harmless (the ports are unclaimed).

use crate::arch::cpu::write_port_u8;

/// Masks every line of both PICs.
pub fn mask_all() {
    write_port_u8(0x21, 0xff);
    write_port_u8(0xa1, 0xff);
}
