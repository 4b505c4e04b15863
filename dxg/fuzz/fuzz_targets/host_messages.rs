//! Fuzzes every parser of host data: host→guest notifications and the reply of each request
//! kind, fed to a driver that has an adapter, a process and a device up. Must never panic.
#![no_main]

use dxg::core::*;
use dxg::wire::*;
use libfuzzer_sys::fuzz_target;

struct Config;
impl ConfigSpace for Config {
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError> {
        Ok(match offset {
            0xC0 => 0x1234,
            0xD0 => 40,
            0xD4 => 0xABCD,
            _ => 0,
        })
    }
    fn write_u32(&mut self, _: u16, _: u32) -> Result<(), ConfigSpaceError> {
        Ok(())
    }
}

fn drain(driver: &mut Driver) -> Vec<OutgoingPacket> {
    let mut sent = Vec::new();
    while let Some(action) = driver.poll_action() {
        if let Action::Send(packet) = action {
            sent.push(packet);
        }
    }
    sent
}

fn answer(driver: &mut Driver, reply: &[u8]) {
    for packet in drain(driver) {
        driver.receive(packet.channel, PacketKind::Completion, packet.transaction_id, reply);
    }
}

fn ready_driver() -> (Driver, D3dkmtHandle, D3dkmtHandle) {
    let mut driver = Driver::new(DriverConfig::default());
    let _ = driver.probe_pci_function(0, 0x008E, &mut Config);
    let mut guid = [0u8; 16];
    guid[..4].copy_from_slice(&0x1234u32.to_le_bytes());
    driver.vgpu_channel_offered(Guid(guid));
    driver.global_channel_offered(16);
    drain(&mut driver);
    driver.io_space_allocated(0x1_0000_0000, 16 << 20);
    answer(&mut driver, &[0; 4]);
    answer(&mut driver, &[1, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 16, 0, 0, 0]);
    answer(&mut driver, &[0; 712]);
    driver.submit(ProcessId(1), Request::CreateProcess { pid: 1, name: "fuzz".into() });
    answer(&mut driver, &[0x40, 0, 0, 0]);
    driver.submit(ProcessId(1), Request::EnumAdapters);
    let mut adapter = D3dkmtHandle::NULL;
    while let Some(action) = driver.poll_action() {
        if let Action::Complete { result: Ok(Reply::Adapters(list)), .. } = action {
            adapter = list.first().map(|entry| entry.handle).unwrap_or_default();
        }
    }
    driver.submit(ProcessId(1), Request::CreateDevice { adapter, flags: 0 });
    answer(&mut driver, &[0x80, 0, 0, 0]);
    (driver, adapter, D3dkmtHandle(0x80))
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_notification(data);
    let _ = split_message(data, true);
    let Some((&selector, payload)) = data.split_first() else { return };
    let (mut driver, adapter, device) = ready_driver();
    let fence = D3dkmtHandle(0x80);
    let request = match selector % 12 {
        0 => Request::QueryAdapterInfo { adapter, query_type: 57, data: vec![0; 8] },
        1 => Request::CreateDevice { adapter, flags: 0 },
        2 => Request::CreatePagingQueue { device, priority: 0 },
        3 => Request::CreateContext { device, node_ordinal: 0, engine_affinity: 0, flags: 0, client_hint: 0, private_data: vec![1, 2, 3] },
        4 => Request::CreateAllocation {
            device,
            resource: D3dkmtHandle::NULL,
            flags: 1,
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default(), AllocationRequest::default()],
        },
        5 => Request::CreateSyncObject { device, kind: SyncObjectKind::MonitoredFence { initial_value: 0, engine_affinity: 0 }, flags: 0 },
        6 => Request::WaitFromCpu { device, objects: vec![fence], values: vec![1], wait_any: false },
        7 => Request::GetDeviceState { device, state_type: 2 },
        8 => Request::QueryVideoMemoryInfo { adapter, segment_group: 0 },
        9 => Request::Escape { adapter, device, context: D3dkmtHandle::NULL, escape_type: 0, flags: 0, data: vec![0; 16] },
        10 => Request::DestroyProcess,
        _ => Request::DestroyDevice { device },
    };
    driver.submit(ProcessId(1), request);
    let packets = drain(&mut driver);
    for packet in &packets {
        driver.receive(packet.channel, PacketKind::Completion, packet.transaction_id, payload);
    }
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, payload);
    drain(&mut driver);
});
