//! Host-test harness: embassy-net stacks wired together in memory (embassy-net-driver-channel,
//! no root, no OS network), a wall clock, an OS random source, and a recording handler.
#![allow(dead_code)]

use core::future::Future;
use embassy_futures::join::join;
use embassy_net::driver::HardwareAddress;
use embassy_net::tcp::TcpSocket;
use embassy_net::{
    Config, IpEndpoint, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4,
};
use embassy_net_driver_channel as ch;
use embassy_time::{Duration, with_timeout};
use shardpeer_embassy::server::{AppRequest, Handler, Reply};
use shardpeer_embassy::shard::{Clock, Rng};

pub const MTU: usize = 1514;

pub type Device = ch::Device<'static, MTU>;
pub type NetRunner = embassy_net::Runner<'static, Device>;

/// App rules of the device app used in the tests.
pub const SENSOR_META: &str = r#"{
  "name": "sensor",
  "paths": {
    "": {"access": "private"},
    "/pub": {"access": "public"},
    "/peer": {"access": "peer", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}"}}
  }
}"#;

pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock stuck at a given time.
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

pub struct OsRng;

impl Rng for OsRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        getrandom::fill(out).expect("OS random source");
    }
}

/// Answers with what it was told: client kind, ID, name, path, query, the rendered rule
/// header, and the body.
pub struct Echo;

impl Handler for Echo {
    async fn handle(&self, req: &AppRequest<'_>, out: &mut [u8]) -> Reply {
        let mut rendered = String::new();
        for h in req.rule.headers() {
            let mut buf = [0u8; 128];
            if let Ok(v) = h.render(req.template_context(), &mut buf) {
                rendered.push_str(&format!("{}={};", h.name(), v));
            }
        }
        let text = format!(
            "client={} id={} name={} method={} path={} query={} rule={} spoof={} body={}",
            req.client.as_str(),
            req.client_id.map(|i| i.as_str()).unwrap_or("-"),
            req.client_name,
            req.method,
            req.path,
            req.query.unwrap_or("-"),
            rendered,
            req.header("x-ptl-client-id").is_some(),
            String::from_utf8_lossy(req.body),
        );
        let n = text.len().min(out.len());
        out[..n].copy_from_slice(&text.as_bytes()[..n]);
        Reply {
            status: 200,
            content_type: Some("text/plain"),
            len: n,
        }
    }
}

pub fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

/// A stack on one end of an in-memory link, with its network runner.
pub struct Node {
    pub stack: Stack<'static>,
    pub runner: NetRunner,
    pub addr: Ipv4Address,
}

/// Two stacks (192.0.2.1 and 192.0.2.2 on a link that exists only in this process) and the
/// future that carries frames between them and runs both stacks. Poll it alongside the test.
pub fn linked_pair() -> (Stack<'static>, Stack<'static>, impl Future<Output = ()>) {
    let state_a = leak(ch::State::<MTU, 8, 8>::new());
    let state_b = leak(ch::State::<MTU, 8, 8>::new());
    let (runner_a, dev_a) = ch::new(state_a, HardwareAddress::Ethernet([2, 0, 0, 0, 0, 1]));
    let (runner_b, dev_b) = ch::new(state_b, HardwareAddress::Ethernet([2, 0, 0, 0, 0, 2]));
    let a = node(dev_a, Ipv4Address::new(192, 0, 2, 1), 1);
    let b = node(dev_b, Ipv4Address::new(192, 0, 2, 2), 2);
    let (stack_a, stack_b) = (a.stack, b.stack);
    let mut net_a = a.runner;
    let mut net_b = b.runner;
    let fut = async move {
        let (state_a, mut rx_a, mut tx_a) = runner_a.split();
        let (state_b, mut rx_b, mut tx_b) = runner_b.split();
        state_a.set_link_state(ch::driver::LinkState::Up);
        state_b.set_link_state(ch::driver::LinkState::Up);
        let a_to_b = async {
            loop {
                let frame = tx_a.tx_buf().await;
                let dst = rx_b.rx_buf().await;
                let n = frame.len().min(dst.len());
                dst[..n].copy_from_slice(&frame[..n]);
                rx_b.rx_done(n);
                tx_a.tx_done();
            }
        };
        let b_to_a = async {
            loop {
                let frame = tx_b.tx_buf().await;
                let dst = rx_a.rx_buf().await;
                let n = frame.len().min(dst.len());
                dst[..n].copy_from_slice(&frame[..n]);
                rx_a.rx_done(n);
                tx_b.tx_done();
            }
        };
        let stacks = join(net_a.run(), net_b.run());
        join(join(a_to_b, b_to_a), stacks).await;
    };
    (stack_a, stack_b, fut)
}

fn node(dev: Device, addr: Ipv4Address, seed: u64) -> Node {
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(addr, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let resources = leak(StackResources::<16>::new());
    let (stack, runner) = embassy_net::new(dev, config, resources, seed);
    Node {
        stack,
        runner,
        addr,
    }
}

/// Runs `test` while `background` (stacks, servers) runs, on one thread.
pub fn run<T>(background: impl Future<Output = ()>, test: impl Future<Output = T>) -> T {
    futures_executor::block_on(async {
        match embassy_futures::select::select(background, test).await {
            embassy_futures::select::Either::First(()) => panic!("background ended"),
            embassy_futures::select::Either::Second(t) => t,
        }
    })
}

/// A raw answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn error_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["error"].as_str().unwrap_or("").to_string()
    }
}

/// Connects from `stack` to `to`, sends `bytes`, reads one response (Content-Length framed)
/// and keeps nothing.
pub async fn raw_exchange(stack: Stack<'static>, to: IpEndpoint, bytes: &[u8]) -> Raw {
    let mut rx = vec![0u8; 8192];
    let mut tx = vec![0u8; 8192];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.connect(to).await.expect("connect");
    let raw = send_on(&mut socket, bytes).await;
    socket.close();
    let _ = with_timeout(Duration::from_millis(200), socket.flush()).await;
    socket.abort();
    raw
}

/// Sends `bytes` on an open socket and reads one Content-Length framed answer.
pub async fn send_on(socket: &mut TcpSocket<'_>, bytes: &[u8]) -> Raw {
    use embedded_io_async::Write as _;
    socket.write_all(bytes).await.expect("write");
    read_answer(socket).await
}

pub async fn read_answer(socket: &mut TcpSocket<'_>) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = with_timeout(Duration::from_secs(10), socket.read(&mut chunk))
                    .await
                    .expect("read timeout")
                    .expect("read");
                assert!(n > 0, "closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return Raw {
                status,
                head,
                body: buf[end + 4..end + 4 + len].to_vec(),
            };
        }
        let n = with_timeout(Duration::from_secs(10), socket.read(&mut chunk))
            .await
            .expect("read timeout")
            .expect("read");
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
