//! The sans-IO SIP stack: codec, validity verdicts, transactions, dialogs, registrar and SDP.
//!
//! Owns everything SIP that can run without sockets or clocks: every input comes with `now`,
//! every output is polled. It does not own sockets (that is `runtime::sip_io`), the agent
//! directory (reached through the [`registrar::Directory`] trait) or routing decisions.
//!
//! Parsing is acd's own zero-copy scanner ([`parse`]) plus typed value parsers ([`header`]);
//! rsip 0.4 is not used on the receive path because it rejects valid RFC 4475 / RFC 5118
//! messages (see docs/architecture.md, "SIP").

pub mod b2bua;
pub mod build;
pub mod check;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod header;
pub mod parse;
pub mod registrar;
pub mod sdp;
pub mod txn;

pub use check::{verdict, DropReason, Invalid, Verdict};
pub use parse::{parse, parse_stream, Framing, Header, HeaderName, Message, ParseError, StartLine};
