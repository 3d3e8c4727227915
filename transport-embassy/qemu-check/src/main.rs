//! The core's verification of the RFC 9421 B.2.6 request on a Cortex-M4 (QEMU mps2-an386),
//! with the stack painted to measure its peak. Prints the figures over semihosting and exits
//! 0 when the signature verified (1 otherwise). Unless built with `core-only`, it also builds
//! a shardpeer-embassy gateway and client over an embassy-net stack and polls them, so the
//! image is that of a device peer.
//!
//! `SHARDPEER_QEMU_VERIFIES` (at build time, default 1) repeats the verification: two builds
//! that differ only in it give the instructions of one verification (docs/embedded.md).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use shardpeer_core::identity::PublicKey;
use shardpeer_core::message::Request;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::verify::{Policy, Verifier};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

/// RFC 9421 B.1.4, `test-key-ed25519`.
const B14_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
/// RFC 9421 B.2.6.
const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

const fn runs() -> usize {
    match option_env!("SHARDPEER_QEMU_VERIFIES") {
        Some(s) => {
            let b = s.as_bytes();
            let mut n = 0;
            let mut i = 0;
            while i < b.len() {
                n = n * 10 + (b[i] - b'0') as usize;
                i += 1;
            }
            n
        }
        None => 1,
    }
}

#[inline(never)]
fn verify_b26() -> bool {
    let Ok(key) = PublicKey::from_pem(B14_PUBLIC_PEM) else {
        return false;
    };
    let fields = [
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        ("Content-Length", "18"),
        ("Signature-Input", B26_INPUT),
        ("Signature", B26_SIGNATURE),
    ];
    let req = Request {
        method: "POST",
        scheme: "https",
        authority: "example.com",
        path: "/foo",
        query: Some("param=Value&Pet=dog"),
        fields: &fields,
    };
    let mut buf = [0u8; 512];
    let mut cache = FixedReplayCache::<1>::new();
    Verifier::new(Policy::RFC9421)
        .verify_request(&req, &key, &mut cache, 1_618_884_473, &mut buf)
        .is_ok()
}

const PAINT: u32 = 0xC0DE_C0DE;

unsafe extern "C" {
    static __sheap: u32;
    static _stack_start: u32;
}

#[entry]
fn main() -> ! {
    let bottom = core::ptr::addr_of!(__sheap) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let sp = cortex_m::register::msp::read() as usize;
    // Paint everything below the current frame (with a margin) down to the end of .bss.
    let mut a = (bottom + 3) & !3;
    while a + 64 < sp {
        unsafe { core::ptr::write_volatile(a as *mut u32, PAINT) };
        a += 4;
    }
    let mut ok = true;
    let mut i = 0;
    while i < runs() {
        ok &= verify_b26();
        i += 1;
    }
    let mut lowest = (bottom + 3) & !3;
    while lowest < sp && unsafe { core::ptr::read_volatile(lowest as *const u32) } == PAINT {
        lowest += 4;
    }
    hprintln!("rfc9421 b.2.6 verified: {}", ok);
    hprintln!("verify runs: {}", runs());
    hprintln!(
        "peak stack of verify (below the caller's frame): {} bytes",
        sp - lowest
    );
    hprintln!("peak stack from the top of RAM: {} bytes", top - lowest);
    #[cfg(not(feature = "core-only"))]
    {
        let peer_ok = device::run();
        hprintln!("embassy gateway and client polled: {}", peer_ok);
        ok &= peer_ok;
    }
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {}
}

#[cfg(not(feature = "core-only"))]
mod device {
    //! A shardpeer-embassy gateway and client over a stack whose link drops every frame.

    use core::pin::pin;
    use core::sync::atomic::{AtomicU32, Ordering};
    use core::task::{Context, Poll, Waker};
    use embassy_net::driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
    use embassy_net::{Config, Ipv4Address, Ipv4Cidr, StackResources, StaticConfigV4};
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    use shardpeer_core::app_meta::AppMeta;
    use shardpeer_core::identity::Identity;
    use shardpeer_embassy::client::{Call, CallError, ClientBuffers, call_peer};
    use shardpeer_embassy::server::{
        App, AppRequest, Gateway, Handler, Reply, ServerConfig, SlotMemory,
    };
    use shardpeer_embassy::shard::{Clock, PeerError, Rng, Shard};

    struct Ticks(AtomicU32);
    impl embassy_time_driver::Driver for Ticks {
        fn now(&self) -> u64 {
            u64::from(self.0.fetch_add(1, Ordering::Relaxed))
        }
        fn schedule_wake(&self, _at: u64, _waker: &Waker) {}
    }
    embassy_time_driver::time_driver_impl!(static DRIVER: Ticks = Ticks(AtomicU32::new(0)));

    struct NullLink;
    struct NullRx;
    struct NullTx;
    impl RxToken for NullRx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
            f(&mut [])
        }
    }
    impl TxToken for NullTx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = [0u8; 1514];
            f(frame.get_mut(..len).unwrap_or(&mut []))
        }
    }
    impl Driver for NullLink {
        type RxToken<'a> = NullRx;
        type TxToken<'a> = NullTx;
        fn receive(&mut self, _: &mut Context<'_>) -> Option<(NullRx, NullTx)> {
            None
        }
        fn transmit(&mut self, _: &mut Context<'_>) -> Option<NullTx> {
            Some(NullTx)
        }
        fn link_state(&mut self, _: &mut Context<'_>) -> LinkState {
            LinkState::Up
        }
        fn capabilities(&self) -> Capabilities {
            let mut c = Capabilities::default();
            c.max_transmission_unit = 1514;
            c
        }
        fn hardware_address(&self) -> HardwareAddress {
            HardwareAddress::Ethernet([2, 0, 0, 0, 0, 1])
        }
    }

    struct FixedClock;
    impl Clock for FixedClock {
        fn now(&self) -> u64 {
            1_700_000_000
        }
    }
    struct CounterRng(u8);
    impl Rng for CounterRng {
        fn fill_bytes(&mut self, out: &mut [u8]) {
            for b in out {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
        }
    }
    struct Hello;
    impl Handler for Hello {
        async fn handle(&self, _req: &AppRequest<'_>, out: &mut [u8]) -> Reply {
            let len = 5.min(out.len());
            if let Some(d) = out.get_mut(..len) {
                d.copy_from_slice(&b"hello"[..len]);
            }
            Reply {
                status: 200,
                content_type: Some("text/plain"),
                len,
            }
        }
    }

    const META: &str =
        r#"{"name":"sensor","paths":{"":{"access":"private"},"/peer":{"access":"peer"}}}"#;

    fn poll_n<F: core::future::Future>(f: core::pin::Pin<&mut F>, n: usize) -> Option<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut f = f;
        for _ in 0..n {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return Some(v);
            }
        }
        None
    }

    pub fn run() -> bool {
        let Ok(identity) = Identity::from_seed([1; 32]) else {
            return false;
        };
        let Ok(shard) = Shard::<NoopRawMutex, 4, 32>::new(identity, "device", "devices.test")
        else {
            return false;
        };
        let Ok(meta) = AppMeta::<8, 8, 512>::parse(META.as_bytes()) else {
            return false;
        };
        let mut resources = StackResources::<4>::new();
        let config = Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(Ipv4Address::new(192, 0, 2, 1), 24),
            gateway: None,
            dns_servers: Default::default(),
        });
        let (stack, mut runner) = embassy_net::new(NullLink, config, &mut resources, 1);
        let handler = Hello;
        let gateway = Gateway {
            shard: &shard,
            app: App {
                name: "sensor",
                rules: &meta,
                handler: &handler,
            },
            clock: &FixedClock,
            config: ServerConfig::default(),
        };
        let mut m1 = SlotMemory::<512, 512, 1024, 256, 256, 1024>::new();
        let serve = pin!(gateway.serve(stack, [m1.slot()]));
        let net = pin!(runner.run());
        if poll_n(net, 4).is_some() || poll_n(serve, 4).is_some() {
            return false;
        }
        let (mut rx, mut tx, mut out, mut head, mut body) =
            ([0u8; 512], [0u8; 512], [0u8; 1024], [0u8; 1024], [0u8; 256]);
        let bufs = ClientBuffers {
            tcp_rx: &mut rx,
            tcp_tx: &mut tx,
            out: &mut out,
            head: &mut head,
            body: &mut body,
        };
        let Ok(stranger) = Identity::from_seed([2; 32]).map(|i| i.id()) else {
            return false;
        };
        let call = Call {
            method: "GET",
            app: "sensor",
            path: "/peer",
            query: None,
            content_type: None,
            body: &[],
        };
        let mut rng = CounterRng(1);
        let timeout = embassy_time::Duration::from_secs(5);
        let fut = pin!(call_peer(
            &shard,
            stack,
            bufs,
            &stranger,
            &call,
            &FixedClock,
            &mut rng,
            timeout
        ));
        matches!(
            poll_n(fut, 4),
            Some(Err(CallError::Peer(PeerError::NotFound)))
        )
    }
}
