//! acd-loadgen's library: the SIP and RTP test parties that the end-to-end tests
//! (`tests/tests/media.rs`) and the relay benchmark (`acd-loadgen rtp-bench`) share.
//!
//! - [`sipua`]: a minimal UDP SIP user agent (REGISTER with digest, INVITE/ACK, answer as a
//!   phone, BYE, re-INVITE).
//! - [`rtp`]: RTP packets, RFC 4733 events, a threaded tone/DTMF endpoint and the checks on
//!   what it received.
//! - [`tone`]: tone generation and Goertzel detection over G.711.
//!
//! Everything here talks to addresses the caller gives; the tests and the bench use
//! 127.0.0.1 only.

pub mod rtp;
pub mod sipua;
pub mod tone;
