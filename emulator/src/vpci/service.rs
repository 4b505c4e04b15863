//! [`VpciHost`] as the host services' [`VirtualPciService`]: the vPCI channel's packets and
//! the trapped config-window accesses.

use super::VpciHost;
use crate::services::VirtualPciService;
use crate::vgpu::VgpuPciConfig;
use crate::vmbus_server::{ReplyKind, ServicePacket};
use hyperv::mmio::{MmioGaps, MmioRange};
use vmbus::ring::PacketType;

impl VirtualPciService for VpciHost {
    fn receive(&mut self, packet: ServicePacket<'_>) {
        // Errors are recorded in `VpciHost::errors` and answered on the wire as §10 says.
        let _ = VpciHost::receive(
            self,
            packet.packet_type,
            packet.transaction_id,
            packet.completion_requested,
            packet.payload,
        );
    }

    fn poll_packet(&mut self) -> Option<(ReplyKind, u64, Vec<u8>)> {
        let packet = self.poll_output()?;
        let kind = if packet.packet_type == PacketType::COMPLETION {
            ReplyKind::Completion
        } else {
            ReplyKind::InBand {
                completion_requested: false,
            }
        };
        Some((kind, packet.transaction_id, packet.payload))
    }

    fn channel_closed(&mut self) {
        self.reset_bus();
    }

    fn mmio_read(&mut self, gpa: u64, size: u8) -> Option<u64> {
        VpciHost::mmio_read(self, gpa, size)
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> bool {
        VpciHost::mmio_write(self, gpa, size, value)
    }

    fn set_address_map(&mut self, guest_ram: &[MmioRange], gaps: Option<MmioGaps>) {
        VpciHost::set_address_map(self, guest_ram.to_vec(), gaps);
    }

    /// The bus's one function, when it is a GPU-PV function.
    fn gpu_pv_config(&self) -> Option<VgpuPciConfig> {
        self.function()
            .is_gpu_pv()
            .then_some(self.function().config)
    }
}
