//! Round trip of a cheap command (QUERYADAPTERINFO) in-process through the dxg core and the
//! emulated vGPU, plus a render submission. Prints numbers; asserts nothing about speed.
//! Run: `cargo bench -p emulator --bench vgpu_round_trip`.
#![feature(test)]
extern crate test;

use dxg::core::{ProcessId, Reply, Request};
use dxg::wire::QUERY_ADAPTER_TYPE_RENDER;
use emulator::vgpu::VgpuDescription;
use emulator::vgpu::loopback::Loopback;
use test::Bencher;

fn setup() -> (Loopback, dxg::wire::D3dkmtHandle) {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x10, 0x11)], 16);
    vm.call(
        ProcessId(1),
        Request::CreateProcess {
            pid: 1,
            name: "bench".into(),
        },
    )
    .unwrap();
    let Ok(Reply::Adapters(list)) = vm.call(ProcessId(1), Request::EnumAdapters) else {
        panic!("no adapter")
    };
    (vm, list[0].handle)
}

#[bench]
fn query_adapter_info_round_trip(bencher: &mut Bencher) {
    let (mut vm, adapter) = setup();
    bencher.iter(|| {
        let request = Request::QueryAdapterInfo {
            adapter,
            query_type: QUERY_ADAPTER_TYPE_RENDER,
            data: vec![0; 4],
        };
        test::black_box(vm.call(ProcessId(1), request).unwrap());
    });
}

#[bench]
fn enum_adapters_local(bencher: &mut Bencher) {
    let (mut vm, _) = setup();
    bencher.iter(|| test::black_box(vm.call(ProcessId(1), Request::EnumAdapters).unwrap()));
}
