//! The owner's page in a real browser: Debian's chromium, headless, driven through
//! chromedriver. Without chromium the test is skipped locally and fails under `CI=true`.
//!
//! Set `SHARDPEER_SCREENSHOTS=<dir>` to keep the screenshots (docs/img/ holds the committed
//! ones).

mod common;
use common::*;
use fantoccini::{ClientBuilder, Locator};
use http::Method;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

// The child is waited for by `Driver`'s Drop on success and right here on failure.
#[allow(clippy::zombie_processes)]
fn start_driver() -> Option<Driver> {
    let have = chromium().is_some()
        && Command::new("chromedriver")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !have {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but chromium/chromedriver are missing: .ci/run must install them");
        }
        eprintln!("skipped: chromium and chromedriver are not installed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Driver {
                child,
                port,
                _profile: tempfile::tempdir().unwrap(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("chromedriver did not start");
}

async fn browser(d: &Driver) -> fantoccini::Client {
    let profile = d._profile.path().display().to_string();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium().unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     format!("--user-data-dir={profile}"), "--window-size=1280,900"]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("webdriver session")
}

/// Waits until the element's text satisfies `ok`, returning it.
async fn text_until(c: &fantoccini::Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if ok(&t) {
                return t;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("{css}: text {t:?} never matched");
            }
        }
        if start.elapsed() > Duration::from_secs(10) {
            panic!("{css} never appeared");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn gone(c: &fantoccini::Client, css: &str) {
    let start = Instant::now();
    while c.find(Locator::Css(css)).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{css} did not go away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn typed(c: &fantoccini::Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &fantoccini::Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn shot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    if let Ok(dir) = std::env::var("SHARDPEER_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

async fn stored_peer(a: &Host, id: &str) -> Resp {
    a.internal_req(
        Method::GET,
        &format!("/protected/peers/{id}"),
        &a.owner_token,
        vec![],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_logs_in_sees_the_id_and_manages_peers() {
    let Some(driver) = start_driver() else { return };
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![],
        extra_toml: "",
    });
    let b = Host::start(HostSpec {
        name: "Bob's shard",
        apps: vec![],
        extra_toml: "",
    });
    let c = browser(&driver).await;

    // Not logged in: the login form; a wrong token is refused with a message.
    c.goto(&format!("http://{}/", a.internal)).await.unwrap();
    text_until(&c, "#login-title", |t| t == "Log in").await;
    typed(&c, "#token", "not-the-token").await;
    click(&c, "#login-submit").await;
    text_until(&c, "#login-msg", |t| {
        t.contains("not this shard's owner token")
    })
    .await;
    typed(&c, "#token", &a.owner_token).await;
    click(&c, "#login-submit").await;

    // Home: the name, the short ID large, the full ID, a QR code.
    assert_eq!(
        text_until(&c, "#short-id", |t| !t.is_empty()).await,
        a.short_id
    );
    assert_eq!(text_until(&c, "#full-id", |t| !t.is_empty()).await, a.id);
    assert_eq!(text_until(&c, "#name", |t| !t.is_empty()).await, "Alice");
    c.find(Locator::Css("#qr svg")).await.expect("a QR code");
    shot(&c, "home-desktop").await;

    // Peers: validation as you type, with a message a person can act on.
    click(&c, "#nav-peers").await;
    text_until(&c, "#count", |t| t == "No peers yet.").await;
    typed(&c, "#peer-id", "abc").await;
    text_until(&c, "#peer-id-msg", |t| t.contains("48 characters")).await;
    let mut bad = b.id.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'a' { 'b' } else { 'a' });
    typed(&c, "#peer-id", &bad).await;
    text_until(&c, "#peer-id-msg", |t| t.contains("typo")).await;
    typed(&c, "#peer-id", &format!("{}!", &b.id[..47])).await;
    text_until(&c, "#peer-id-msg", |t| t.contains("not allowed")).await;
    assert!(
        c.find(Locator::Css("#add"))
            .await
            .unwrap()
            .attr("disabled")
            .await
            .unwrap()
            .is_some(),
        "no add with an invalid ID"
    );

    // Add Bob by full ID.
    typed(&c, "#peer-id", &b.id).await;
    text_until(&c, "#peer-id-msg", |t| t.starts_with("Valid ID")).await;
    typed(&c, "#peer-name", "Bob").await;
    click(&c, "#add-form details summary").await;
    typed(&c, "#peer-address", &format!("http://{}", b.gateway)).await;
    click(&c, "#add").await;
    let li = format!("li[data-id='{}']", b.id);
    text_until(&c, &format!("{li} .peer-name"), |t| t == "Bob").await;
    text_until(&c, &format!("{li} .badge"), |t| t == "reachable").await;
    let stored = stored_peer(&a, &b.id).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["name"], "Bob");
    assert_eq!(stored.json()["self_name"], "Bob's shard");
    shot(&c, "peers-desktop").await;

    // Rename.
    click(&c, &format!("{li} button:not(.danger)")).await;
    typed(&c, &format!("{li} form.rename input"), "Bobby").await;
    click(&c, &format!("{li} form.rename button[type=submit]")).await;
    text_until(&c, &format!("{li} .peer-name"), |t| t == "Bobby").await;
    assert_eq!(stored_peer(&a, &b.id).await.json()["name"], "Bobby");

    // Filter by name.
    typed(&c, "#filter", "zzz").await;
    text_until(&c, "#count", |t| t == "0 of 1 peers").await;
    typed(&c, "#filter", "bob").await;
    text_until(&c, "#count", |t| t == "1 peer").await;

    // Narrow screens.
    c.set_window_size(360, 780).await.unwrap();
    shot(&c, "peers-narrow").await;
    click(&c, "#nav-home").await;
    text_until(&c, "#short-id", |t| !t.is_empty()).await;
    shot(&c, "home-narrow").await;
    let scroll_width = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        scroll_width.as_u64().unwrap() <= 360,
        "no horizontal scrolling at 360 px: {scroll_width}"
    );
    c.set_window_size(1280, 900).await.unwrap();

    // Remove, with confirmation.
    click(&c, "#nav-peers").await;
    click(&c, &format!("{li} button.danger")).await;
    assert_eq!(
        stored_peer(&a, &b.id).await.status,
        200,
        "nothing removed before confirming"
    );
    click(&c, &format!("{li} .confirm-remove")).await;
    gone(&c, &li).await;
    text_until(&c, "#count", |t| t == "No peers yet.").await;
    assert_eq!(stored_peer(&a, &b.id).await.status, 404);

    // The cookie is HttpOnly: page scripts cannot read the owner token.
    let cookies = c.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(
        cookies.as_str(),
        Some(""),
        "document.cookie must not show the owner cookie"
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_api_refuses_cross_site_requests() {
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![],
        extra_toml: "",
    });
    let cookie = format!("shardpeer_owner={}", a.owner_token);
    let url = format!("http://{}/owner/api/peers", a.internal);
    let body = serde_json::json!({"id": a.id}).to_string().into_bytes();
    // A form post from another site: no custom header.
    let r = send(
        Method::PUT,
        &url,
        &[("cookie", &cookie), ("content-type", "application/json")],
        body.clone(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "csrf_refused")
    );
    // A script on another site that somehow added the header: wrong Origin.
    let r = send(
        Method::PUT,
        &url,
        &[
            ("cookie", &cookie),
            ("x-shardpeer-request", "1"),
            ("origin", "http://evil.example"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "csrf_refused")
    );
    // Without the owner's cookie.
    let r = send(Method::GET, &url, &[("x-shardpeer-request", "1")], vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "login_required")
    );
    // The real page's request.
    let origin = format!("http://{}", a.internal);
    let r = send(
        Method::GET,
        &url,
        &[
            ("cookie", &cookie),
            ("x-shardpeer-request", "1"),
            ("origin", &origin),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    // The page itself is served with a policy that loads nothing from elsewhere.
    let page = send(Method::GET, &format!("http://{}/", a.internal), &[], vec![]).await;
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    // And on the gateway, at the shard's own domain.
    let page = send(
        Method::GET,
        &format!("http://{}/", a.gateway),
        &[("host", &a.domain)],
        vec![],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<title>Your shard</title>"));
}
