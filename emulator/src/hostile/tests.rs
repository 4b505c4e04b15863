use super::offsets::*;
use super::*;
use vmbus::guid::{Guid, class};
use vmbus::messages::encode;

fn word(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

#[test]
fn offsets_match_the_vmbus_encoder() {
    let offer = encode::offer_channel(&encode::OfferFields {
        interface_type: class::DXG_GLOBAL,
        interface_instance: Guid { bytes: [7; 16] },
        flags: 0,
        mmio_megabytes: 0x1234,
        user_defined: [0; 120],
        sub_channel_index: 0,
        child_relid: 0xA1B2_C3D4,
        monitor_id: 0xFF,
        monitor_allocated: false,
        is_dedicated_interrupt: true,
        connection_id: 0x0102_0304,
    });
    assert_eq!(word(&offer, MESSAGE_TYPE), MessageType::OFFER_CHANNEL.0);
    assert_eq!(
        offer[OFFER_CLASS..OFFER_CLASS + 16],
        class::DXG_GLOBAL.bytes
    );
    assert_eq!(
        offer[OFFER_MMIO_MEGABYTES..OFFER_MMIO_MEGABYTES + 2],
        [0x34, 0x12]
    );
    assert_eq!(word(&offer, OFFER_RELID), 0xA1B2_C3D4);
    assert_eq!(word(&offer, OFFER_CONNECTION_ID), 0x0102_0304);

    let open = encode::open_channel_result(11, 22, 33);
    assert_eq!(
        (
            word(&open, CHILD_RELID),
            word(&open, OPEN_ID),
            word(&open, OPEN_STATUS)
        ),
        (11, 22, 33)
    );
    let created = encode::gpadl_created(11, 22, 33);
    assert_eq!(
        (
            word(&created, CHILD_RELID),
            word(&created, CREATED_GPADL),
            word(&created, CREATED_STATUS)
        ),
        (11, 22, 33)
    );
    assert_eq!(word(&encode::gpadl_torndown(44), TORNDOWN_GPADL), 44);
    assert_eq!(word(&encode::rescind_channel_offer(55), CHILD_RELID), 55);
    let version = encode::version_response(true, 0, 0x0A0B_0C0D);
    assert_eq!(version[VERSION_SUPPORTED], 1);
    assert_eq!(word(&version, VERSION_CONNECTION_ID), 0x0A0B_0C0D);
}

fn control_row(occurrence: usize, mutation: Mutation) -> HostileRow {
    HostileRow {
        name: "test",
        target: Target::Control(MessageType::GPADL_TORNDOWN),
        occurrence,
        mutation,
        scenario: Scenario::Boot,
        expect: Expect::Survives,
        skipped: None,
        known_defect: None,
    }
}

#[test]
fn the_hook_rewrites_only_the_chosen_occurrence_once_armed() {
    let (mut hook, handle) = HostileHook::new(&control_row(1, Mutation::Truncate(3)));
    let torndown = encode::gpadl_torndown(9);
    // Not armed: untouched.
    assert_eq!(
        hook.control_message(torndown.clone()),
        vec![torndown.clone()]
    );
    handle.arm();
    // Another type passes; the first torndown is occurrence 0 and passes too.
    let other = encode::all_offers_delivered();
    assert_eq!(hook.control_message(other.clone()), vec![other]);
    assert_eq!(
        hook.control_message(torndown.clone()),
        vec![torndown.clone()]
    );
    assert_eq!(
        hook.control_message(torndown.clone()),
        vec![torndown[..3].to_vec()]
    );
    assert_eq!(handle.fired(), 1);
    // Fires once.
    assert_eq!(hook.control_message(torndown.clone()), vec![torndown]);
}

#[test]
fn drop_duplicate_and_delay() {
    let torndown = encode::gpadl_torndown(9);
    let other = encode::all_offers_delivered();
    let (mut hook, handle) = HostileHook::new(&control_row(0, Mutation::Drop));
    handle.arm();
    assert!(hook.control_message(torndown.clone()).is_empty());

    let (mut hook, handle) = HostileHook::new(&control_row(0, Mutation::Duplicate));
    handle.arm();
    assert_eq!(hook.control_message(torndown.clone()).len(), 2);

    let (mut hook, handle) = HostileHook::new(&control_row(0, Mutation::Delay));
    handle.arm();
    assert!(hook.control_message(torndown.clone()).is_empty());
    assert!(handle.holding());
    assert_eq!(hook.control_message(other.clone()), vec![other, torndown]);
    assert!(!handle.holding());
}

#[test]
fn service_replies_are_matched_by_channel_and_kind() {
    let row = HostileRow {
        target: Target::Completion { relids: &[3] },
        mutation: Mutation::TransactionId(77),
        ..control_row(0, Mutation::Drop)
    };
    let (mut hook, handle) = HostileHook::new(&row);
    handle.arm();
    let other_channel = ServiceReply::completion(2, 5, vec![1, 2, 3]);
    assert_eq!(
        hook.service_reply(other_channel.clone()),
        vec![other_channel]
    );
    let notification = ServiceReply::notification(3, vec![1, 2, 3]);
    assert_eq!(hook.service_reply(notification.clone()), vec![notification]);
    let reply = hook.service_reply(ServiceReply::completion(3, 5, vec![1, 2, 3]));
    assert_eq!(reply, vec![ServiceReply::completion(3, 77, vec![1, 2, 3])]);
}

#[test]
fn row_names_are_unique_and_skips_say_why() {
    let mut names: Vec<_> = HOSTILE_ROWS.iter().map(|row| row.name).collect();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate row names");
    assert!(
        HOSTILE_ROWS
            .iter()
            .all(|row| row.skipped.is_none_or(|why| !why.is_empty()))
    );
}
