//! placeholder: filled by the sip work.
