//! The live prompt library: the [`PromptSet`] a running engine plays from — the built-ins
//! overlaid with the administrator's uploads — kept in step with every prompt change.
//!
//! Owns one thread that follows the admin change feed and, on [`ConfigEvent::PromptChanged`],
//! decodes the changed prompt (or drops it back to the built-in) into a new set, published
//! through an [`ArcSwap`]: readers (the call flow building a playlist) take a lock-free
//! snapshot with `load()`, never waiting on decoding. Decoding and encoding happen here, off
//! the SIP and media hot paths. Does not own storage or validation (the admin service) nor
//! playback (the media shards).

use crate::admin::{Admin, AdminError, ConfigEvent};
use crate::media::prompts::PromptSet;
use crate::model::QueueSettings;
use crate::runtime::follower::Follower;
use crate::sip::b2bua::QueueAudio;
use arc_swap::ArcSwap;
use crossbeam_channel::{select, Receiver};
use std::sync::Arc;

/// What callers of a queue hear, for the call flow ([`crate::sip::b2bua::Called::Queue`]):
/// the queue's welcome prompt, hold audio and announcement interval (`None` when the queue
/// does not announce positions).
pub fn queue_audio(settings: &QueueSettings) -> QueueAudio {
    QueueAudio {
        welcome: settings.welcome_prompt.clone(),
        hold: settings.hold_audio.clone(),
        announce_every: settings
            .announce_position
            .then(|| std::time::Duration::from_secs(u64::from(settings.announce_interval_seconds))),
    }
}

/// The running library: a shared, always-current [`PromptSet`] and the thread that updates it.
pub struct PromptLibrary {
    current: Arc<ArcSwap<PromptSet>>,
    thread: Follower,
}

impl std::fmt::Debug for PromptLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptLibrary").finish_non_exhaustive()
    }
}

impl PromptLibrary {
    /// Builds the set (built-ins, then every upload) and starts following prompt changes.
    /// The set is complete when this returns.
    pub fn start(admin: Arc<Admin>) -> std::io::Result<PromptLibrary> {
        // Subscribe before reading the uploads: a change in between is applied twice, never
        // missed.
        let events = admin.subscribe();
        let mut set = PromptSet::builtin();
        for name in admin.uploaded_prompts() {
            apply(&mut set, &admin, &name);
        }
        let current = Arc::new(ArcSwap::from_pointee(set));
        let thread = {
            let current = current.clone();
            Follower::spawn("acd-prompts", move |stopped| {
                follow(&admin, &events, &stopped, &current)
            })?
        };
        Ok(PromptLibrary { current, thread })
    }

    /// The shared cell: keep it and `load()` the current set whenever a playlist is built.
    pub fn prompts(&self) -> Arc<ArcSwap<PromptSet>> {
        self.current.clone()
    }

    /// The current set.
    pub fn load(&self) -> Arc<PromptSet> {
        self.current.load_full()
    }

    /// Stops following changes (the last set stays readable through [`Self::prompts`]).
    pub fn stop(self) {
        self.thread.stop();
    }
}

/// Puts the prompt `name` as the admin service has it now into `set`: its upload or built-in,
/// or nothing if neither exists any more.
fn apply(set: &mut PromptSet, admin: &Admin, name: &str) {
    match admin.prompt_samples(name) {
        Ok(samples) => set.insert_samples(name, &samples),
        Err(AdminError::NotFound { .. }) => set.remove(name),
        Err(e) => {
            // The previous version keeps playing; the next change retries.
            tracing::warn!(prompt = name, error = %e, "prompt could not be loaded");
        }
    }
}

fn follow(
    admin: &Admin,
    events: &Receiver<ConfigEvent>,
    stopped: &Receiver<()>,
    current: &ArcSwap<PromptSet>,
) {
    loop {
        let first = select! {
            recv(events) -> ev => match ev {
                Ok(ev) => ev,
                Err(_) => return,
            },
            recv(stopped) -> _ => return,
        };
        // Apply everything already queued as one new set: a burst of uploads publishes once.
        let mut changed: Vec<String> = Vec::new();
        for ev in std::iter::once(first).chain(events.try_iter()) {
            if let ConfigEvent::PromptChanged(name) = ev {
                if !changed.contains(&name) {
                    changed.push(name);
                }
            }
        }
        if changed.is_empty() {
            continue;
        }
        let mut set = PromptSet::clone(&current.load());
        for name in &changed {
            apply(&mut set, admin, name);
        }
        current.store(Arc::new(set));
        tracing::info!(prompts = ?changed, "prompts reloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{g711::ulaw_encode, prompts::builtin_samples, wav};
    use std::time::{Duration, Instant};

    fn wav_of(len: usize, value: i16) -> Vec<u8> {
        wav::write_pcm16(&vec![value; len])
    }

    /// Waits (bounded) for the library thread to publish a set satisfying `ok`.
    fn eventually(lib: &PromptLibrary, ok: impl Fn(&PromptSet) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ok(&lib.load()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn queue_audio_follows_the_queue_settings() {
        let defaults = queue_audio(&QueueSettings::default());
        assert_eq!(defaults, QueueAudio::default());
        let q = QueueSettings {
            welcome_prompt: None,
            hold_audio: "ringback".into(),
            announce_position: true,
            announce_interval_seconds: 45,
            ..QueueSettings::default()
        };
        let audio = queue_audio(&q);
        assert_eq!(audio.welcome, None);
        assert_eq!(audio.hold, "ringback");
        assert_eq!(audio.announce_every, Some(Duration::from_secs(45)));
    }

    #[test]
    fn starts_with_builtins_overlaid_by_existing_uploads() {
        let admin = Arc::new(Admin::in_memory_for_tests());
        admin.put_prompt("welcome", &wav_of(160, 4_000)).unwrap();
        admin.put_prompt("jazz", &wav_of(320, 2_000)).unwrap();
        let lib = PromptLibrary::start(admin).unwrap();
        let set = lib.load();
        assert_eq!(
            set.get("welcome").unwrap().pcmu,
            vec![ulaw_encode(4_000); 160]
        );
        assert_eq!(set.get("jazz").unwrap().pcmu.len(), 320);
        assert_eq!(
            set.get("moh").unwrap().pcmu.len(),
            builtin_samples("moh").unwrap().len()
        );
        lib.stop();
    }

    #[test]
    fn follows_uploads_and_deletes_back_to_the_builtin() {
        let admin = Arc::new(Admin::in_memory_for_tests());
        let lib = PromptLibrary::start(admin.clone()).unwrap();
        let builtin_len = builtin_samples("welcome").unwrap().len();
        admin.put_prompt("welcome", &wav_of(160, 4_000)).unwrap();
        admin.put_prompt("jazz", &wav_of(80, 1_000)).unwrap();
        assert!(eventually(&lib, |s| {
            s.get("welcome").is_some_and(|p| p.pcmu.len() == 160) && s.get("jazz").is_some()
        }));
        admin.delete_prompt("welcome").unwrap();
        admin.delete_prompt("jazz").unwrap();
        assert!(eventually(&lib, |s| {
            s.get("welcome")
                .is_some_and(|p| p.pcmu.len() == builtin_len)
                && s.get("jazz").is_none()
        }));
    }
}
