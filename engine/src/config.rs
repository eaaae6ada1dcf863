//! Runtime settings.
