//! Fuzzes the control-message parser and the client state machine with host messages.
//! The first byte picks how far the client has got (fresh, connecting, connected with an
//! open channel); the rest is a sequence of messages, each prefixed by a length byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmbus::client::{Client, ClientConfig, OpenRequest};
use vmbus::messages::{encode, parse};

fuzz_target!(|data: &[u8]| {
    let Some((mode, mut rest)) = data.split_first() else {
        return;
    };
    let _ = parse(rest);
    let mut client = Client::new(ClientConfig::default());
    if mode & 1 == 1 {
        let _ = client.connect();
    }
    if mode & 2 == 2 {
        let _ = client.on_message(&encode::version_response(true, 0, 1));
        let _ = client.request_offers();
        let offer = encode::OfferFields {
            interface_type: vmbus::guid::class::DXG_GLOBAL,
            interface_instance: vmbus::Guid::ZERO,
            flags: 0,
            mmio_megabytes: 0,
            user_defined: [0; 120],
            sub_channel_index: 0,
            child_relid: 1,
            monitor_id: 0xFF,
            monitor_allocated: false,
            is_dedicated_interrupt: true,
            connection_id: 0x2001,
        };
        let _ = client.on_message(&encode::offer_channel(&offer));
        if let Ok(gpadl) = client.create_gpadl(1, 0, 4 * 4096, &[1, 2, 3, 4]) {
            let _ = client.on_message(&encode::gpadl_created(1, gpadl, 0));
            let request = OpenRequest {
                ring_gpadl: gpadl,
                downstream_page_offset: 2,
                target_vp: 0,
                user_data: [0; 120],
            };
            let _ = client.open_channel(1, &request);
        }
    }
    while let Some((length, tail)) = rest.split_first() {
        let take = usize::from(*length).min(tail.len());
        let (message, next) = tail.split_at(take);
        let _ = client.on_message(message);
        while client.poll_action().is_some() {}
        rest = next;
    }
});
