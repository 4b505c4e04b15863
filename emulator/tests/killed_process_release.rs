//! A killed process's release while one of its requests waits for the host.
//!
//! The kernel kills a process blocked in a GPU call by ending its wait (`ipc` `Interrupted`):
//! the dxg task then sees the caller gone and tells the core (`Driver::caller_gone`, which gives
//! up only a CPU wait), and the process's gateway sends `DestroyProcess` from its exit path
//! (`kernel/src/services/{dxg_task,gpu_gateway}.rs`). The request the process left stays an
//! outstanding transaction until the host answers or its bound passes.
//!
//! What Linux's dxgkrnl guest driver does in that case (microsoft/WSL2-Linux-Kernel,
//! drivers/hv/dxgkrnl/dxgvmbus.c `dxgvmb_send_sync_msg`, and dxgprocess.c
//! `dxgprocess_release`): the waiter sleeps in `wait_for_completion_killable`; a fatal signal
//! ends the wait, the packet is taken off the channel's list of packets awaiting completion and
//! freed, and a later completion with its request id finds nothing ("did not find packet to
//! complete") and is dropped. Request ids are a per-channel counter that only grows
//! (`atomic64_inc_return`), so a late completion cannot match a newer request. The process's
//! DESTROYPROCESS goes out when its last reference is released (`dxgprocess_release`), after
//! the killed thread left its wait, without waiting for the host's answer to the abandoned
//! request. The host may therefore answer that request after DESTROYPROCESS.
//!
//! These tests pin the same behaviour for the dxg core against the emulated host, with no time
//! passing at all (nothing here advances a clock or expires a bound): the release is answered
//! while the abandoned request is still outstanding, and the abandoned request's late answer
//! (before or after DESTROYPROCESS) is absorbed without matching any other request.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use dxg::core::{ChannelId, PacketKind, ProcessId, Reply, Request, Ticket};
use dxg::wire::{CREATE_ALLOCATION_EXISTING_SYSMEM, D3dkmtHandle, MAX_PFNS_PER_MESSAGE, NtStatus};
use emulator::vgpu::loopback::Loopback;
use emulator::vgpu::{HostChannel, HostOutput};
use support::requests::{create_allocation, create_device, create_process, enum_adapters, sized};
use support::vm::{loopback, ok};

const KILLED: ProcessId = ProcessId(1);
const OTHER: ProcessId = ProcessId(2);

/// A vGPU completion the test holds back (the host answering late).
struct HeldCompletion {
    transaction_id: u64,
    bytes: Vec<u8>,
}

/// Holds back every vGPU completion while `holding` is set; global ones pass. Counts every
/// completion the host sends (each answers one command the guest sent).
#[derive(Clone, Default)]
struct Holder {
    holding: Rc<RefCell<bool>>,
    held: Rc<RefCell<Vec<HeldCompletion>>>,
    answered: Rc<RefCell<usize>>,
}

impl Holder {
    fn install(&self, vm: &mut Loopback) {
        let holder = self.clone();
        vm.intercept = Some(Box::new(move |output| {
            if matches!(output, HostOutput::Completion { .. }) {
                *holder.answered.borrow_mut() += 1;
            }
            holder.filter(output)
        }));
    }

    fn filter(&self, output: &HostOutput) -> bool {
        match output {
            HostOutput::Completion {
                channel: HostChannel::Vgpu(_),
                transaction_id,
                bytes,
            } if *self.holding.borrow() => {
                self.held.borrow_mut().push(HeldCompletion {
                    transaction_id: *transaction_id,
                    bytes: bytes.clone(),
                });
                false
            }
            _ => true,
        }
    }

    fn answered(&self) -> usize {
        *self.answered.borrow()
    }

    fn set_holding(&self, holding: bool) {
        *self.holding.borrow_mut() = holding;
    }

    fn take(&self) -> Vec<HeldCompletion> {
        core::mem::take(&mut *self.held.borrow_mut())
    }
}

/// The loopback VM of these tests with its [`Holder`] installed.
struct Scene {
    vm: Loopback,
    holder: Holder,
}

impl Scene {
    fn new() -> Self {
        let mut vm = loopback();
        let holder = Holder::default();
        holder.install(&mut vm);
        Self { vm, holder }
    }

    /// A scene whose killed process has an adapter open and a CreateDevice the host has not
    /// answered yet (its completion held); returns it with the CreateDevice's ticket.
    fn waiting_in_create_device() -> (Self, Ticket) {
        let mut scene = Self::new();
        let adapter = scene.process_with_adapter(KILLED, 100, "killed");
        let ticket = scene.submit_held(KILLED, Request::CreateDevice { adapter, flags: 0 });
        (scene, ticket)
    }

    /// Creates `process` and returns the handle of the adapter it opened.
    fn process_with_adapter(&mut self, process: ProcessId, pid: u64, name: &str) -> D3dkmtHandle {
        create_process(&mut self.vm, process, pid, name);
        enum_adapters(&mut self.vm, process)[0].handle
    }

    /// Submits `request` of `process` with its vGPU completion held back; returns its ticket.
    fn submit_held(&mut self, process: ProcessId, request: Request) -> Ticket {
        self.holder.set_holding(true);
        let ticket = self.vm.driver.submit(process, request);
        self.vm.pump();
        self.holder.set_holding(false);
        assert!(
            !self.vm.completions.contains_key(&ticket),
            "the held request completed"
        );
        assert_eq!(self.holder.held.borrow().len(), 1, "one completion held");
        ticket
    }

    /// The one completion held back.
    fn held_answer(&self) -> HeldCompletion {
        self.holder.take().pop().expect("the held answer")
    }

    /// The host's `answer`, delivered now on the adapter's vGPU channel.
    fn deliver(&mut self, answer: &HeldCompletion) {
        let instance = self
            .vm
            .driver
            .adapter(dxg::core::AdapterId(0))
            .expect("adapter 0")
            .channel_instance;
        let (transaction_id, bytes) = (answer.transaction_id, &answer.bytes);
        let channel = ChannelId::Vgpu(instance);
        let vm = &mut self.vm;
        vm.driver
            .receive(channel, PacketKind::Completion, transaction_id, bytes);
        vm.pump();
    }

    /// Delivers the late `answer` to the killed process's request and checks that it made the
    /// guest send nothing and report nothing.
    fn deliver_late(&mut self, answer: &HeldCompletion) {
        let answered = self.holder.answered();
        self.deliver(answer);
        assert_eq!(
            self.holder.answered(),
            answered,
            "the late answer made the guest send a command about the destroyed process"
        );
        assert!(
            self.vm.driver.process(KILLED).is_none(),
            "the late answer brought the dead process back"
        );
        self.assert_no_protocol_error();
    }

    /// What the kernel does at the kill: the dxg task tells the core the call's caller is
    /// gone (`cancel_abandoned_calls`; not a CPU wait, so nothing is given up), then the
    /// gateway's exit sends DestroyProcess. Returns the DestroyProcess result, `None` if it has
    /// not completed.
    fn kill(&mut self, abandoned: Ticket) -> Option<Result<Reply, NtStatus>> {
        self.caller_gone(abandoned);
        self.vm.try_call(KILLED, Request::DestroyProcess)
    }

    /// The dxg task's part of the kill alone.
    fn caller_gone(&mut self, abandoned: Ticket) {
        assert!(!self.vm.driver.caller_gone(KILLED, abandoned));
    }

    /// The host released the killed process and everything it held.
    fn assert_released(&self) {
        assert_eq!(
            self.vm.host.process_count(),
            0,
            "the host still holds the process"
        );
        assert_eq!(
            self.vm.host.object_count(),
            0,
            "the host still holds its objects"
        );
        assert!(self.vm.driver.process(KILLED).is_none());
    }

    fn assert_no_protocol_error(&self) {
        let errors = &self.vm.protocol_errors;
        assert!(errors.is_empty(), "{errors:?}");
    }
}

const RELEASED: Option<Result<Reply, NtStatus>> = Some(Ok(Reply::Status(NtStatus::SUCCESS)));

#[test]
fn a_killed_process_is_released_while_its_request_is_unanswered() {
    let (mut scene, abandoned) = Scene::waiting_in_create_device();
    assert_eq!(scene.vm.host.process_count(), 1);
    let outstanding_before = scene.vm.driver.outstanding_transactions();

    // No bound expires here (no clock moves, no transaction is abandoned): DESTROYPROCESS is
    // sent and answered while the CreateDevice is still outstanding.
    assert_eq!(scene.kill(abandoned), RELEASED);
    scene.assert_released();
    assert_eq!(
        scene.vm.driver.outstanding_transactions(),
        outstanding_before,
        "the abandoned CreateDevice stays outstanding until answered or its bound"
    );
    scene.assert_no_protocol_error();
}

#[test]
fn a_late_answer_after_destroyprocess_is_absorbed_and_matches_no_newer_request() {
    let (mut scene, abandoned) = Scene::waiting_in_create_device();
    let late = scene.held_answer();
    assert_eq!(scene.kill(abandoned), RELEASED);

    // Another process's request on the same channel, in flight when the late answer comes.
    let adapter = scene.process_with_adapter(OTHER, 200, "other");
    let newer = scene.submit_held(OTHER, Request::CreateDevice { adapter, flags: 0 });
    let newer_answer = scene.held_answer();
    assert_ne!(newer_answer.transaction_id, late.transaction_id);

    scene.deliver_late(&late);
    let vm = &mut scene.vm;
    assert!(
        !vm.completions.contains_key(&newer),
        "the late answer completed a newer request"
    );
    assert_eq!(
        vm.driver.outstanding_transactions(),
        1,
        "only the newer one"
    );

    scene.deliver(&newer_answer);
    let vm = &mut scene.vm;
    let Some(Ok(Reply::Device(device))) = vm.completions.remove(&newer) else {
        panic!("the newer CreateDevice did not get its own answer")
    };
    assert!(
        vm.driver
            .process(OTHER)
            .is_some_and(|process| process.get(device).is_some())
    );
    // The other process goes on working.
    let second = create_device(vm, OTHER, adapter);
    assert_ne!(second, device);
    ok(vm.call(OTHER, Request::DestroyProcess));
    assert_eq!(vm.host.process_count(), 0);
}

#[test]
fn a_late_answer_between_the_kill_and_destroyprocess_is_released_with_the_process() {
    let (mut scene, abandoned) = Scene::waiting_in_create_device();
    let late = scene.held_answer();
    scene.caller_gone(abandoned);
    // The host answers before the gateway's DestroyProcess arrives: the device is the
    // process's (nobody is told), and the release destroys it.
    scene.deliver(&late);
    assert_eq!(scene.vm.driver.outstanding_transactions(), 0);
    assert_eq!(scene.vm.try_call(KILLED, Request::DestroyProcess), RELEASED);
    scene.assert_released();
    scene.assert_no_protocol_error();
}

/// A SETEXISTINGSYSMEMPAGES request of more frames than one message holds goes out one chunk at
/// a time, each sent from the previous chunk's answer (`on_sysmem_pages_reply`). The first
/// chunk's answer comes after the process was destroyed: nothing more is sent for it (its host
/// process is gone), the request ends with INVALID_HANDLE like any other late answer, and
/// nothing is reported.
#[test]
fn a_late_sysmem_pages_answer_after_destroyprocess_sends_no_further_chunk() {
    const PAGE: u64 = 4096;
    let mut scene = Scene::new();
    let adapter = scene.process_with_adapter(KILLED, 100, "killed");
    let vm = &mut scene.vm;
    let device = create_device(vm, KILLED, adapter);
    let pages = MAX_PFNS_PER_MESSAGE + 1;
    let flags = CREATE_ALLOCATION_EXISTING_SYSMEM;
    let size = sized(pages as u64 * PAGE);
    let allocation = create_allocation(vm, KILLED, device, flags, size).handle;
    // Two chunks; every frame names the same guest RAM page (the host checks each is RAM).
    let page_frames = vec![vm.guest_ram_base() / PAGE; pages];
    let request = Request::SetExistingSysmemPages {
        device,
        allocation,
        page_frames,
    };
    let abandoned = scene.submit_held(KILLED, request);
    let late = scene.held_answer();
    assert_eq!(scene.kill(abandoned), RELEASED);

    scene.deliver_late(&late);
    let vm = &mut scene.vm;
    assert_eq!(
        vm.completions.remove(&abandoned),
        Some(Err(NtStatus::INVALID_HANDLE))
    );
    assert_eq!(vm.driver.outstanding_transactions(), 0);
}
