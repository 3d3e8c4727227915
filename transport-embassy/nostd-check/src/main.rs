//! Links `shardpeer-embassy` into a binary without std or allocator and drives it a little:
//! an embassy-net stack over a driver that drops every frame, the gateway listening on two
//! slots, and a client call that must be refused locally (the peer is unknown). Exit code 0
//! means every future was polled and the client gave the expected error. The C runtime's
//! `main`, `memcpy` and friends are the only things borrowed from the platform; the time
//! driver and critical section are the ones a board support crate would provide.
#![no_std]
#![no_main]

use core::pin::pin;
use core::sync::atomic::{AtomicU64, Ordering};
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

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// A time driver: a counter that moves one microsecond per read.
struct Ticks(AtomicU64);
impl embassy_time_driver::Driver for Ticks {
    fn now(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
    fn schedule_wake(&self, _at: u64, _waker: &Waker) {}
}
embassy_time_driver::time_driver_impl!(static DRIVER: Ticks = Ticks(AtomicU64::new(0)));

/// Single-threaded: a critical section needs no lock.
struct NoCs;
critical_section::set_impl!(NoCs);
unsafe impl critical_section::Impl for NoCs {
    unsafe fn acquire() -> bool {
        false
    }
    unsafe fn release(_: bool) {}
}

/// A link that never delivers a frame and drops what is sent.
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
        let msg = b"hello";
        let len = msg.len().min(out.len());
        if let (Some(d), Some(s)) = (out.get_mut(..len), msg.get(..len)) {
            d.copy_from_slice(s);
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

fn run() -> i32 {
    let Ok(identity) = Identity::from_seed([1; 32]) else {
        return 1;
    };
    let Ok(shard) = Shard::<NoopRawMutex, 4, 32>::new(identity, "device", "devices.test") else {
        return 2;
    };
    let Ok(meta) = AppMeta::<8, 8, 512>::parse(META.as_bytes()) else {
        return 3;
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
    let mut m2 = SlotMemory::<512, 512, 1024, 256, 256, 1024>::new();
    let serve = pin!(gateway.serve(stack, [m1.slot(), m2.slot()]));
    let net = pin!(runner.run());
    if poll_n(net, 4).is_some() || poll_n(serve, 4).is_some() {
        return 4;
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
    let stranger = Identity::from_seed([2; 32]).map(|i| i.id());
    let Ok(stranger) = stranger else { return 5 };
    let call = Call {
        method: "GET",
        app: "sensor",
        path: "/peer",
        query: None,
        content_type: None,
        body: &[],
    };
    let mut rng = CounterRng(1);
    let fut = pin!(call_peer(
        &shard,
        stack,
        bufs,
        &stranger,
        &call,
        &FixedClock,
        &mut rng,
        embassy_time_driver_secs(5)
    ));
    match poll_n(fut, 4) {
        Some(Err(CallError::Peer(PeerError::NotFound))) => 0,
        _ => 6,
    }
}

fn embassy_time_driver_secs(s: u64) -> embassy_time::Duration {
    embassy_time::Duration::from_secs(s)
}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    run()
}

/// The precompiled `core` for this host target refers to the unwinding personality routine
/// even with `panic = "abort"`; nothing ever unwinds here.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

#[link(name = "c")]
unsafe extern "C" {}
