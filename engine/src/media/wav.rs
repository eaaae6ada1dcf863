//! Placeholder: filled in by the media-core work.
