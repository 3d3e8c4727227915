//! Access decisions: which rule of an app's `app_meta.json` governs a path, and whether a client
//! may pass it.
//!
//! # Driving contract
//!
//! For each request to an app, the transport:
//!
//! 1. normalises the path with [`crate::path::normalize_path`] (refusing the request on error),
//! 2. calls [`AppMeta::decide`] with the normalised path and the authenticated [`ClientKind`],
//!    answering [`AccessDenied`] with its status (401),
//! 3. removes every incoming header for which [`AppMeta::is_reserved_header`] is true, so a client
//!    cannot pose as the gateway,
//! 4. renders each of the rule's [`Rule::headers`] with a
//!    [`crate::template::TemplateContext`] and adds them,
//! 5. forwards the request with the normalised path.
//!
//! # Matching
//!
//! Rule keys are matched as plain string prefixes of the normalised path, longest key first, with
//! the required `""` key as the default. There is no segment boundary: `/pub` matches `/public`
//! and `/pub/x`, `/peer` matches `/peerX`. This is deliberate: it is how freeshard has always
//! matched `paths`, and existing apps rely on it (a `/pub` rule covering `/public/...`). Changing
//! it would silently narrow or widen what existing apps expose. What made plain prefixes unsafe
//! in freeshard is not the prefix rule itself but matching on an unnormalised path (`/pub/../x`,
//! `//x`, `/%70rivate`), which [`crate::path`] removes. App authors who want a segment boundary
//! write the key with a trailing slash (`/peer/`); the path `/peer` itself then falls to a shorter
//! key. Keys are unique, so two keys never tie.
//!
//! # Decisions
//!
//! | access    | anonymous | terminal | peer |
//! |-----------|-----------|----------|------|
//! | `public`  | allow     | allow    | allow|
//! | `private` | deny      | allow    | deny |
//! | `peer`    | deny      | deny     | allow|
//!
//! A terminal (the owner's own paired device) is not a peer: a `peer` path is an interface for
//! other shards, and an app that also wants its owner there declares a `public` rule and checks
//! `X-Ptl-Client-Type` itself.

use crate::app_meta::{AppMeta, HeaderEntry};
use crate::template::{TemplateContext, TemplateError, render};
use crate::wire::wire_error;

/// The access type of a rule in `app_meta.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Access {
    /// `public`: anyone, authenticated or not.
    Public,
    /// `private`: only the shard owner's terminals.
    Private,
    /// `peer`: only shards this shard has added as peers.
    Peer,
}

impl Access {
    /// The value as written in `app_meta.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Private => "private",
            Access::Peer => "peer",
        }
    }

    /// Parses the `app_meta.json` spelling (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Access::Public),
            "private" => Some(Access::Private),
            "peer" => Some(Access::Peer),
            _ => None,
        }
    }

    /// Whether a client of this kind may pass a rule with this access type (the table in the
    /// module documentation).
    pub const fn allows(self, client: ClientKind) -> bool {
        matches!(
            (self, client),
            (Access::Public, _)
                | (Access::Private, ClientKind::Terminal)
                | (Access::Peer, ClientKind::Peer)
        )
    }
}

/// Who is making the request, as established by authentication before the access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientKind {
    /// No valid credential.
    Anonymous,
    /// One of the shard owner's own paired devices.
    Terminal,
    /// A shard this shard has added as a peer, proven by a valid signature.
    Peer,
}

impl ClientKind {
    /// The `auth.client_type` template value: `anonymous`, `terminal` or `peer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientKind::Anonymous => "anonymous",
            ClientKind::Terminal => "terminal",
            ClientKind::Peer => "peer",
        }
    }
}

/// The client may not pass the rule that governs the path.
///
/// The remote party only sees the status and code; `required` and `client` are for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessDenied {
    /// The access type of the matched rule.
    pub required: Access,
    /// The kind of client that was refused.
    pub client: ClientKind,
}

wire_error!(AccessDenied {
    AccessDenied { required, client } => (401, "access_denied", "access denied: path is {}, client is {}", required.as_str(), client.as_str()),
});

/// One access rule of an app: a path prefix, its access type and its header templates.
#[derive(Clone, Copy)]
pub struct Rule<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) access: Access,
    pub(crate) strings: &'a str,
    pub(crate) headers: &'a [HeaderEntry],
}

impl<'a> Rule<'a> {
    /// The key in `paths`, e.g. `/pub`, or `""` for the default rule.
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The rule's access type.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The headers to add to a request this rule allowed, in file order.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            strings: self.strings,
            entries: self.headers.iter(),
        }
    }
}

impl core::fmt::Debug for Rule<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rule")
            .field("prefix", &self.prefix)
            .field("access", &self.access)
            .field("headers", &self.headers())
            .finish()
    }
}

/// Iterator over a rule's [`HeaderTemplate`]s.
#[derive(Clone)]
pub struct Headers<'a> {
    strings: &'a str,
    entries: core::slice::Iter<'a, HeaderEntry>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = HeaderTemplate<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        Some(HeaderTemplate {
            name: entry.name.get(self.strings),
            template: entry.template.get(self.strings),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_> {}

impl core::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// A header to add: its name and its validated template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTemplate<'a> {
    name: &'a str,
    template: &'a str,
}

impl<'a> HeaderTemplate<'a> {
    /// The header name as written in `app_meta.json` (a valid token, not hop-by-hop).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The template text, validated when the app's metadata was loaded.
    pub fn template(&self) -> &'a str {
        self.template
    }

    /// Renders the value into `out`; see [`crate::template::render`]. The template was validated
    /// at load time, so only [`TemplateError::UnsafeValue`] and [`TemplateError::BufferTooSmall`]
    /// can occur.
    pub fn render<'o>(
        &self,
        ctx: &TemplateContext<'_>,
        out: &'o mut [u8],
    ) -> Result<&'o str, TemplateError> {
        render(self.template, ctx, out)
    }
}

impl<const PATHS: usize, const HEADERS: usize, const ARENA: usize> AppMeta<PATHS, HEADERS, ARENA> {
    /// Finds the rule governing `normalized_path` and decides whether `client` may pass it.
    ///
    /// `normalized_path` must come from [`crate::path::normalize_path`]: the prefixes are only
    /// meaningful against the canonical spelling. On success the matched [`Rule`] carries the
    /// headers to add.
    pub fn decide(
        &self,
        normalized_path: &str,
        client: ClientKind,
    ) -> Result<Rule<'_>, AccessDenied> {
        let governing = self
            .rules()
            .filter(|rule| normalized_path.starts_with(rule.prefix()))
            .max_by_key(|rule| rule.prefix().len());
        // `""` matches every path and parsing guarantees it exists, so `None` cannot happen;
        // should it anyway, refuse as if the default were private.
        let Some(rule) = governing else {
            return Err(AccessDenied {
                required: Access::Private,
                client,
            });
        };
        if rule.access().allows(client) {
            Ok(rule)
        } else {
            Err(AccessDenied {
                required: rule.access(),
                client,
            })
        }
    }

    /// Whether an incoming header with this name must be removed before forwarding.
    ///
    /// True for every `X-Ptl-*` name and for every header name any rule of this app sets (ASCII
    /// case-insensitive). A rule that sets no `X-Ptl-Client-Id` must not let the client supply
    /// one either: the app cannot tell which rule let the request in. freeshard left this
    /// stripping to its reverse proxy's configuration; here it is part of the decision.
    pub fn is_reserved_header(&self, name: &str) -> bool {
        let x_ptl = name
            .as_bytes()
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case(b"x-ptl-"));
        x_ptl
            || self.headers.iter().any(|entry| {
                entry
                    .name
                    .get(self.strings.as_str())
                    .eq_ignore_ascii_case(name)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalize_path;
    use crate::wire::WireError;

    const META: &str = r#"{
        "name": "echo",
        "paths": {
            "": {"access": "private", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}"}},
            "/pub": {"access": "public"},
            "/peer": {"access": "peer", "headers": {"X-Peer": "{{auth.client_name}}"}},
            "/peer/x": {"access": "public"}
        }
    }"#;

    fn meta() -> AppMeta {
        AppMeta::parse(META.as_bytes()).unwrap()
    }

    #[test]
    fn access_matrix() {
        use Access::*;
        use ClientKind::{Anonymous, Terminal};
        let expected = [
            (Public, Anonymous, true),
            (Public, Terminal, true),
            (Public, ClientKind::Peer, true),
            (Private, Anonymous, false),
            (Private, Terminal, true),
            (Private, ClientKind::Peer, false),
            (Access::Peer, Anonymous, false),
            (Access::Peer, Terminal, false),
            (Access::Peer, ClientKind::Peer, true),
        ];
        for (access, client, allowed) in expected {
            assert_eq!(access.allows(client), allowed, "{access:?} {client:?}");
        }
    }

    #[test]
    fn access_matrix_through_decide() {
        let m = meta();
        let cases = [
            ("/pub", [true, true, true]),
            ("/private", [false, true, false]),
            ("/peer", [false, false, true]),
        ];
        let clients = [
            ClientKind::Anonymous,
            ClientKind::Terminal,
            ClientKind::Peer,
        ];
        for (path, allowed) in cases {
            for (client, allowed) in clients.into_iter().zip(allowed) {
                assert_eq!(m.decide(path, client).is_ok(), allowed, "{path} {client:?}");
            }
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let m = meta();
        assert_eq!(
            m.decide("/peer/x", ClientKind::Anonymous).unwrap().prefix(),
            "/peer/x"
        );
        assert_eq!(
            m.decide("/peer/xyz", ClientKind::Anonymous)
                .unwrap()
                .prefix(),
            "/peer/x"
        );
        assert_eq!(
            m.decide("/peer/y", ClientKind::Peer).unwrap().prefix(),
            "/peer"
        );
        assert_eq!(m.decide("/", ClientKind::Terminal).unwrap().prefix(), "");
    }

    #[test]
    fn plain_prefix_has_no_segment_boundary() {
        let m = meta();
        assert_eq!(
            m.decide("/public", ClientKind::Anonymous).unwrap().prefix(),
            "/pub"
        );
        assert_eq!(
            m.decide("/peerX", ClientKind::Peer).unwrap().prefix(),
            "/peer"
        );
    }

    #[test]
    fn dot_segments_cannot_escape_into_private() {
        let m = meta();
        let mut buf = [0u8; 64];
        let path = normalize_path("/pub/../private", &mut buf).unwrap();
        assert_eq!(path, "/private");
        assert_eq!(
            m.decide(path, ClientKind::Anonymous).unwrap_err(),
            AccessDenied {
                required: Access::Private,
                client: ClientKind::Anonymous
            }
        );
    }

    #[test]
    fn denial_carries_required_access() {
        let err = meta().decide("/peer", ClientKind::Terminal).unwrap_err();
        assert_eq!(err.required, Access::Peer);
        assert_eq!(err.client, ClientKind::Terminal);
        assert_eq!(err.http_status(), 401);
        assert_eq!(err.code(), "access_denied");
    }

    #[test]
    fn rule_headers_render() {
        let m = meta();
        let rule = m.decide("/peer/a", ClientKind::Peer).unwrap();
        let ctx = TemplateContext {
            client_type: ClientKind::Peer.as_str(),
            client_name: "Bob",
            ..Default::default()
        };
        let mut buf = [0u8; 32];
        let mut headers = rule.headers();
        assert_eq!(headers.len(), 1);
        let h = headers.next().unwrap();
        assert_eq!(h.name(), "X-Peer");
        assert_eq!(h.template(), "{{auth.client_name}}");
        assert_eq!(h.render(&ctx, &mut buf), Ok("Bob"));
        assert!(headers.next().is_none());
        assert_eq!(
            m.decide("/pub", ClientKind::Peer).unwrap().headers().len(),
            0
        );
    }

    #[test]
    fn reserved_headers() {
        let m = meta();
        assert!(m.is_reserved_header("X-Ptl-Anything"));
        assert!(m.is_reserved_header("x-ptl-client-id"));
        assert!(m.is_reserved_header("x-peer"));
        assert!(!m.is_reserved_header("X-Ptl"));
        assert!(!m.is_reserved_header("Accept"));
        assert!(!m.is_reserved_header(""));
    }

    #[test]
    fn client_kind_strings() {
        assert_eq!(ClientKind::Anonymous.as_str(), "anonymous");
        assert_eq!(ClientKind::Terminal.as_str(), "terminal");
        assert_eq!(ClientKind::Peer.as_str(), "peer");
        for a in [Access::Public, Access::Private, Access::Peer] {
            assert_eq!(Access::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Access::from_name("Public"), None);
    }
}
