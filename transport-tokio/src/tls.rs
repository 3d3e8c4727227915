//! TLS 1.3 between shards, pinned to the peer's key: no CA, no DNS trust.
//!
//! # Server
//! The gateway's TLS listener presents a certificate made at start from the shard's own
//! Ed25519 identity key (rcgen), for `<domain>` and `*.<domain>`, valid for 100 years:
//! nothing to configure, nothing to renew. Peers and browsers are told apart by **ALPN**: a
//! shard offers `shardpeer/1` and gets the identity certificate; any other client (a browser
//! offers `h2`/`http/1.1` or nothing) gets the owner's certificate from the config (e.g.
//! from an ACME client) when there is one, else the identity certificate. The owner's
//! certificate never takes part in peer pinning, so an expired or wrong one breaks only
//! browsers.
//!
//! # Client
//! A shard calling a peer offers ALPN `shardpeer/1` and accepts the server's certificate only
//! if its subject public key is an Ed25519 key that derives the **full ID** of the peer it
//! meant to reach, and the handshake is signed by that key (TLS 1.3 CertificateVerify).
//! Names, dates and issuers in the certificate are not consulted: the ID is the pin. This
//! also covers the first contact (fetching whoareyou before any key is stored): the ID alone
//! is enough. A mismatch fails the handshake before any request byte is sent and surfaces
//! as [`IdentityMismatchError`].
//!
//! The expected ID travels with each connection: [`PeerConnector`] reads it from the
//! userinfo of the URI it is asked to connect (`https://<full-id>@host:port`), which also
//! keys hyper's connection pool, so a connection authenticated as one peer is never reused
//! for another.

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, PublicKey};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The ALPN protocol a shard offers to another shard.
pub const ALPN_PEER: &[u8] = b"shardpeer/1";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE, AlgorithmIdentifier
/// id-Ed25519, BIT STRING of 33 bytes (no unused bits) — then the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Making the identity certificate failed.
    #[error("identity certificate: {0}")]
    Certificate(String),
    /// The owner's certificate or key file is unusable.
    #[error("owner certificate {path}: {message}")]
    OwnerCertificate {
        /// File.
        path: String,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The identity certificate: self-signed by the shard's key, for its domain and subdomains.
pub fn identity_certificate(identity: &Identity, domain: &str) -> Result<CertifiedKey, TlsError> {
    let der = identity.to_pkcs8_der();
    let pkcs8 = PrivatePkcs8KeyDer::from(der.to_vec());
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")])
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    // Validity is not what peers check (the key is), so make it long enough never to matter.
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_eddsa_type(&pkcs8).map_err(TlsError::Config)?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
}

/// Loads the owner's certificate chain and key (PEM files).
pub fn owner_certificate(cert_path: &str, key_path: &str) -> Result<CertifiedKey, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let err = |path: &str, message: String| TlsError::OwnerCertificate {
        path: path.to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| err(cert_path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert_path, e.to_string()))?;
    if chain.is_empty() {
        return Err(err(cert_path, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| err(key_path, e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| err(key_path, e.to_string()))?;
    Ok(CertifiedKey::new(chain, signing))
}

/// Chooses the certificate by ALPN: the identity certificate for shards, the owner's for the
/// rest (when configured).
#[derive(Debug)]
struct ByAlpn {
    identity: Arc<CertifiedKey>,
    owner: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ByAlpn {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let is_peer = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ALPN_PEER));
        if is_peer {
            return Some(self.identity.clone());
        }
        Some(self.owner.clone().unwrap_or_else(|| self.identity.clone()))
    }
}

/// The gateway's TLS server configuration (TLS 1.3 only).
pub fn server_config(
    identity: CertifiedKey,
    owner: Option<CertifiedKey>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ByAlpn {
            identity: Arc::new(identity),
            owner: owner.map(Arc::new),
        }));
    config.alpn_protocols = vec![ALPN_PEER.to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts exactly the certificate whose key derives `expected`.
#[derive(Debug)]
struct PinnedToId {
    expected: ShardId,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The Ed25519 key of a certificate, if that is what its subject public key is.
pub fn certificate_key(cert: &CertificateDer<'_>) -> Option<PublicKey> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    let key: [u8; 32] = key.try_into().ok()?;
    PublicKey::from_bytes(key).ok()
}

impl ServerCertVerifier for PinnedToId {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match certificate_key(end_entity) {
            Some(key) if self.expected.is_id_of(&key) => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.3 only: a 1.2 handshake never gets here.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A client configuration that reaches only the shard `expected`.
pub fn client_config(expected: ShardId) -> Result<rustls::ClientConfig, TlsError> {
    let p = provider();
    let algorithms = p.signature_verification_algorithms;
    let mut config = rustls::ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedToId {
            expected,
            algorithms,
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_PEER.to_vec()];
    Ok(config)
}

/// Whether an error chain is a pinning failure.
pub fn is_identity_mismatch(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<IdentityMismatchError>().is_some() {
            return true;
        }
        // `io::Error::source()` skips the error it wraps, so look inside it explicitly.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )) = candidate.downcast_ref::<rustls::Error>()
            {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The error a connector returns for a pinning failure.
#[derive(Debug, thiserror::Error)]
#[error("the peer's TLS certificate is not the key of the ID asked for")]
pub struct IdentityMismatchError;

/// Plain TCP or TLS, as the URI's scheme says.
#[derive(Debug)]
pub enum PeerStream {
    /// `http://`
    Plain(TokioIo<tokio::net::TcpStream>),
    /// `https://`
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>),
}

impl Connection for PeerStream {
    fn connected(&self) -> Connected {
        match self {
            PeerStream::Plain(s) => s.connected(),
            PeerStream::Tls(_) => Connected::new(),
        }
    }
}

impl hyper::rt::Read for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Connects `http://` plainly and `https://<full-id>@host:port` over TLS pinned to that ID.
#[derive(Debug, Clone)]
pub struct PeerConnector {
    http: HttpConnector<crate::dns::DnsResolver>,
}

impl PeerConnector {
    /// Over a configured TCP connector.
    pub fn new(http: HttpConnector<crate::dns::DnsResolver>) -> Self {
        PeerConnector { http }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for PeerConnector {
    type Response = PeerStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<PeerStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        Box::pin(async move {
            let tls = uri.scheme_str() == Some("https");
            let expected = if tls {
                let userinfo = uri
                    .authority()
                    .and_then(|a| a.as_str().split_once('@'))
                    .map(|(u, _)| u);
                Some(
                    ShardId::parse(userinfo.unwrap_or("")).map_err(|e| -> BoxError {
                        format!("https peer URI without its ID: {e}").into()
                    })?,
                )
            } else {
                None
            };
            // The TCP connector only reads host and port; rebuild the URI without userinfo
            // and with the plain scheme it requires.
            let host = uri.host().unwrap_or("");
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            let host_for_uri = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            let tcp_uri: Uri = format!("http://{host_for_uri}:{port}/").parse()?;
            let tcp = tower_service::Service::<Uri>::call(&mut http, tcp_uri).await?;
            let Some(expected) = expected else {
                return Ok(PeerStream::Plain(tcp));
            };
            let config = client_config(expected)?;
            let name = ServerName::try_from(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
            .map_err(|e| -> BoxError { format!("server name {host:?}: {e}").into() })?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp.into_inner())
                .await
                .map_err(|e| -> BoxError {
                    if is_identity_mismatch(&e) {
                        Box::new(IdentityMismatchError)
                    } else {
                        Box::new(e)
                    }
                })?;
            Ok(PeerStream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_certificate_carries_the_identity_key() {
        let id = Identity::from_seed([7; 32]).unwrap();
        let ck = identity_certificate(&id, "abcdef.shard.test").unwrap();
        let key = certificate_key(&ck.cert[0]).unwrap();
        assert_eq!(key, id.public_key());
        assert!(id.id().is_id_of(&key));
        let other = Identity::from_seed([8; 32]).unwrap();
        assert!(!other.id().is_id_of(&key));
    }
}
