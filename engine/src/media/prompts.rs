//! The prompt set: every sound acd plays to callers (welcome, music on hold, ringback, the
//! words and numbers of position and wait announcements), by name. Placeholder signatures;
//! filled in by the queue-audio work.

use super::Prompt;
use std::collections::HashMap;
use std::sync::Arc;

/// Prompts by name.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    by_name: HashMap<String, Arc<Prompt>>,
}

impl PromptSet {
    /// The prompt called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        self.by_name.get(name).cloned()
    }

    /// Adds or replaces a prompt.
    pub fn insert(&mut self, prompt: Prompt) {
        self.by_name.insert(prompt.name.clone(), Arc::new(prompt));
    }

    /// What a caller at `position` (1 = next) with an expected wait of `wait_secs` hears.
    pub fn announce_position(&self, _position: u32, _wait_secs: Option<u32>) -> Vec<Arc<Prompt>> {
        Vec::new()
    }
}
