//! placeholder: filled by the router work.
