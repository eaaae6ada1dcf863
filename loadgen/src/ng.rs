//! rtpengine's ng control protocol, as far as the relay bench needs it: a bencode encoder
//! and decoder and the `offer` / `answer` / `delete` commands over UDP (`<cookie> <dict>`).
//!
//! Owns only the client side used by `rtp-bench`; not a complete ng client.

use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bencode {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Bencode>),
    /// `d...e`, keys sorted (BTreeMap) as bencode requires.
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    /// A byte string from text.
    pub(crate) fn str(s: &str) -> Bencode {
        Bencode::Bytes(s.as_bytes().to_vec())
    }

    /// A dictionary from (key, value) pairs.
    pub(crate) fn dict(pairs: &[(&str, Bencode)]) -> Bencode {
        Bencode::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    /// Appends the encoding to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(n) => out.extend_from_slice(format!("i{n}e").as_bytes()),
            Bencode::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Bencode::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Bencode::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes one value from the start of `buf`; returns it and the bytes used.
    pub(crate) fn decode(buf: &[u8]) -> anyhow::Result<(Bencode, usize)> {
        match buf.first() {
            Some(b'i') => {
                let end = buf
                    .iter()
                    .position(|&b| b == b'e')
                    .context("unterminated int")?;
                let n = std::str::from_utf8(&buf[1..end])?.parse()?;
                Ok((Bencode::Int(n), end + 1))
            }
            Some(b'0'..=b'9') => {
                let colon = buf
                    .iter()
                    .position(|&b| b == b':')
                    .context("no ':' in string")?;
                let len: usize = std::str::from_utf8(&buf[..colon])?.parse()?;
                let start = colon + 1;
                let bytes = buf
                    .get(start..start + len)
                    .context("string longer than the message")?;
                Ok((Bencode::Bytes(bytes.to_vec()), start + len))
            }
            Some(b'l') => {
                let mut i = 1;
                let mut items = Vec::new();
                while buf.get(i) != Some(&b'e') {
                    if i >= buf.len() {
                        bail!("unterminated list");
                    }
                    let (v, used) = Bencode::decode(&buf[i..])?;
                    items.push(v);
                    i += used;
                }
                Ok((Bencode::List(items), i + 1))
            }
            Some(b'd') => {
                let mut i = 1;
                let mut map = BTreeMap::new();
                while buf.get(i) != Some(&b'e') {
                    if i >= buf.len() {
                        bail!("unterminated dict");
                    }
                    let (k, used) = Bencode::decode(&buf[i..])?;
                    i += used;
                    let Bencode::Bytes(k) = k else {
                        bail!("dict key is not a string")
                    };
                    let (v, used) = Bencode::decode(&buf[i..])?;
                    i += used;
                    map.insert(k, v);
                }
                Ok((Bencode::Dict(map), i + 1))
            }
            other => bail!("not bencode at {other:?}"),
        }
    }

    /// A dictionary entry as text.
    pub(crate) fn get_str(&self, key: &str) -> Option<String> {
        match self {
            Bencode::Dict(d) => match d.get(key.as_bytes()) {
                Some(Bencode::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An ng client on one UDP socket.
pub(crate) struct NgClient {
    socket: UdpSocket,
    server: SocketAddr,
    cookie: u64,
}

impl NgClient {
    /// A client for the ng listener at `server`.
    pub(crate) fn new(server: SocketAddr) -> anyhow::Result<NgClient> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(NgClient {
            socket,
            server,
            cookie: 0,
        })
    }

    /// Sends a command and returns the reply dictionary (retried twice on timeout); a
    /// `result` other than `ok` is an error.
    pub(crate) fn command(&mut self, dict: &Bencode) -> anyhow::Result<Bencode> {
        self.cookie += 1;
        let cookie = format!("c{}", self.cookie);
        let mut msg = format!("{cookie} ").into_bytes();
        dict.encode(&mut msg);
        let mut buf = vec![0u8; 65_536];
        for _ in 0..3 {
            self.socket.send_to(&msg, self.server)?;
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let reply = &buf[..n];
            let Some(rest) = reply.strip_prefix(format!("{cookie} ").as_bytes()) else {
                continue; // a late reply to an earlier try
            };
            let (v, _) = Bencode::decode(rest)?;
            return match v.get_str("result").as_deref() {
                Some("ok") => Ok(v),
                r => Err(anyhow!(
                    "ng {:?}: result {r:?}: {:?}",
                    dict.get_str("command"),
                    v.get_str("error-reason")
                )),
            };
        }
        bail!("no ng reply from {} after 3 tries", self.server)
    }

    /// `offer`: the caller's SDP in, the SDP for the callee out.
    pub(crate) fn offer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        sdp: &str,
    ) -> anyhow::Result<String> {
        let r = self.command(&Bencode::dict(&[
            ("command", Bencode::str("offer")),
            ("call-id", Bencode::str(call_id)),
            ("from-tag", Bencode::str(from_tag)),
            ("sdp", Bencode::str(sdp)),
        ]))?;
        r.get_str("sdp").context("offer reply without sdp")
    }

    /// `answer`: the callee's SDP in, the SDP for the caller out.
    pub(crate) fn answer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &str,
    ) -> anyhow::Result<String> {
        let r = self.command(&Bencode::dict(&[
            ("command", Bencode::str("answer")),
            ("call-id", Bencode::str(call_id)),
            ("from-tag", Bencode::str(from_tag)),
            ("to-tag", Bencode::str(to_tag)),
            ("sdp", Bencode::str(sdp)),
        ]))?;
        r.get_str("sdp").context("answer reply without sdp")
    }

    /// `delete`: ends the call.
    pub(crate) fn delete(&mut self, call_id: &str, from_tag: &str) -> anyhow::Result<()> {
        self.command(&Bencode::dict(&[
            ("command", Bencode::str("delete")),
            ("call-id", Bencode::str(call_id)),
            ("from-tag", Bencode::str(from_tag)),
        ]))
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trips_nested_values() {
        let v = Bencode::dict(&[
            ("command", Bencode::str("offer")),
            ("n", Bencode::Int(-42)),
            (
                "flags",
                Bencode::List(vec![Bencode::str("a"), Bencode::Int(0)]),
            ),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, b"d7:command5:offer5:flagsl1:ai0ee1:ni-42ee".to_vec());
        let (back, used) = Bencode::decode(&out).unwrap();
        assert_eq!((back, used), (v, out.len()));
    }

    #[test]
    fn truncated_bencode_is_an_error_not_a_panic() {
        for bad in [&b"d3:sdp"[..], b"5:ab", b"i12", b"l", b"x", b""] {
            assert!(Bencode::decode(bad).is_err(), "{bad:?}");
        }
    }
}
