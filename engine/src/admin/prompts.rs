//! Prompts an administrator uploads: WAV files stored in the `prompts` keyspace by name,
//! validated by content ([`crate::media::wav`]) and size, listed beside the built-in defaults
//! ([`crate::media::prompts`]). An upload under a built-in name replaces it; deleting that
//! upload brings the built-in back. Every change is published as
//! [`ConfigEvent::PromptChanged`] so the running engine rebuilds the set it plays from.
//!
//! Does not own decoding into the playable form (the runtime's prompt library does that from
//! [`Admin::prompt_samples`]) nor HTTP.

use super::*;
use crate::media::{prompts as builtin, wav};

/// The largest prompt upload accepted (ten minutes of 16-bit PCM plus headers).
pub const PROMPT_MAX_BYTES: usize = wav::MAX_BYTES;

/// Where the prompt a name plays comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSource {
    /// Shipped with acd (no upload under this name).
    Builtin,
    /// Uploaded by an administrator.
    Uploaded,
}

/// One prompt as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptInfo {
    /// Its name (`[a-z0-9_]{1,40}`).
    pub name: String,
    /// Built-in or uploaded.
    pub source: PromptSource,
    /// How long it plays, in milliseconds.
    pub duration_ms: u64,
}

/// The samples of a WAV, or the 422 saying what is wrong with it.
fn decode(bytes: &[u8]) -> Result<Vec<i16>, AdminError> {
    wav::parse(bytes).map_err(|e| AdminError::field("body", rules::AUDIO_FORMAT, format!("{e}")))
}

/// Loads the durations of every stored prompt into `st` (the bytes stay in the store).
pub(super) fn load(store: &dyn Store, st: &mut State) -> Result<(), StoreError> {
    for (k, v) in store.scan_prefix(keyspace::PROMPTS, b"")? {
        let samples = wav::parse(&v).map_err(|e| StoreError::Corrupt {
            keyspace: keyspace::PROMPTS.to_owned(),
            key: hex::encode(&k),
            detail: e.to_string(),
        })?;
        let name = String::from_utf8_lossy(&k).into_owned();
        st.prompts.insert(name, wav::duration_ms(samples.len()));
    }
    Ok(())
}

impl State {
    /// Whether `name` plays something: built in, or uploaded.
    pub(super) fn prompt_exists(&self, name: &str) -> bool {
        self.prompts.contains_key(name) || builtin::is_builtin(name)
    }

    /// The rule that a queue's audio settings name prompts that exist.
    pub(super) fn check_queue_prompts(&self, e: &mut Errors, q: &QueueSettings) {
        let mut check = |field: &str, name: &str| {
            // A malformed name already has its own error.
            if validate::is_prompt_name(name) {
                e.check(self.prompt_exists(name), field, rules::EXISTS, || {
                    format!(
                        "prompt {name} is neither built in nor uploaded; upload it first \
                         (PUT /api/v1/prompts/{name})"
                    )
                });
            }
        };
        if let Some(p) = &q.welcome_prompt {
            check("welcome_prompt", p);
        }
        check("hold_audio", &q.hold_audio);
    }
}

impl Admin {
    /// Stores `bytes` (a WAV: 8 kHz mono, 16-bit PCM or G.711) as the prompt `name`, replacing
    /// any upload or built-in of that name. Returns the listing and whether the name is new
    /// (neither uploaded nor built in before).
    pub fn put_prompt(&self, name: &str, bytes: &[u8]) -> Result<(PromptInfo, bool), AdminError> {
        let mut e = Errors::default();
        validate::check_prompt_name(&mut e, "name", name);
        e.into_result()?;
        if bytes.len() > PROMPT_MAX_BYTES {
            return Err(AdminError::TooLarge {
                size: bytes.len(),
                limit: PROMPT_MAX_BYTES,
            });
        }
        // Decoding up to ten minutes of audio happens before the lock is taken.
        let duration_ms = wav::duration_ms(decode(bytes)?.len());
        let mut st = self.write();
        let created = !st.prompt_exists(name);
        self.store.put(keyspace::PROMPTS, name.as_bytes(), bytes)?;
        st.prompts.insert(name.to_owned(), duration_ms);
        st.emit(ConfigEvent::PromptChanged(name.to_owned()));
        drop(st);
        self.flush()?;
        Ok((
            PromptInfo {
                name: name.to_owned(),
                source: PromptSource::Uploaded,
                duration_ms,
            },
            created,
        ))
    }

    /// The prompt `name` as a WAV file: an upload exactly as it was sent, a built-in as 8 kHz
    /// mono 16-bit PCM.
    pub fn prompt(&self, name: &str) -> Result<Vec<u8>, AdminError> {
        if self.read().prompts.contains_key(name) {
            if let Some(bytes) = self.store.get(keyspace::PROMPTS, name.as_bytes())? {
                return Ok(bytes);
            }
        }
        builtin::builtin_samples(name)
            .map(wav::write_pcm16)
            .ok_or_else(|| AdminError::not_found("prompt", name))
    }

    /// The samples the prompt `name` plays (8 kHz), uploaded or built in.
    pub fn prompt_samples(&self, name: &str) -> Result<Vec<i16>, AdminError> {
        if self.read().prompts.contains_key(name) {
            if let Some(bytes) = self.store.get(keyspace::PROMPTS, name.as_bytes())? {
                return decode(&bytes);
            }
        }
        builtin::builtin_samples(name)
            .map(<[i16]>::to_vec)
            .ok_or_else(|| AdminError::not_found("prompt", name))
    }

    /// The names of the uploaded prompts, sorted.
    pub fn uploaded_prompts(&self) -> Vec<String> {
        self.read().prompts.keys().cloned().collect()
    }

    /// Every prompt a queue can name, by name: built-ins (unless replaced) and uploads.
    pub fn list_prompts(&self) -> Vec<PromptInfo> {
        let st = self.read();
        let mut all: BTreeMap<String, PromptInfo> = builtin::builtin_names()
            .filter_map(|name| {
                let samples = builtin::builtin_samples(name)?;
                Some((
                    name.to_owned(),
                    PromptInfo {
                        name: name.to_owned(),
                        source: PromptSource::Builtin,
                        duration_ms: wav::duration_ms(samples.len()),
                    },
                ))
            })
            .collect();
        for (name, &duration_ms) in &st.prompts {
            all.insert(
                name.clone(),
                PromptInfo {
                    name: name.clone(),
                    source: PromptSource::Uploaded,
                    duration_ms,
                },
            );
        }
        all.into_values().collect()
    }

    /// Deletes an uploaded prompt; a built-in name plays the built-in again. Refused (409)
    /// while a queue names a prompt that would then not exist.
    pub fn delete_prompt(&self, name: &str) -> Result<(), AdminError> {
        let mut st = self.write();
        if !st.prompts.contains_key(name) {
            // A built-in without an upload has nothing to delete either.
            return Err(AdminError::not_found("uploaded prompt", name));
        }
        if !builtin::is_builtin(name) {
            if let Some(q) = st.queues.values().find(|q| {
                q.settings.welcome_prompt.as_deref() == Some(name) || q.settings.hold_audio == name
            }) {
                return Err(AdminError::conflict(
                    "name",
                    RULE_IN_USE,
                    format!(
                        "queue {} plays prompt {name}; change its welcome_prompt or hold_audio \
                         first",
                        q.id
                    ),
                ));
            }
        }
        self.store.delete(keyspace::PROMPTS, name.as_bytes())?;
        st.prompts.remove(name);
        st.emit(ConfigEvent::PromptChanged(name.to_owned()));
        drop(st);
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<u8> {
        let samples: Vec<i16> = (0..n).map(|i| ((i % 16) as i16 - 8) * 1_000).collect();
        wav::write_pcm16(&samples)
    }

    fn queue_with(f: impl FnOnce(&mut QueueSettings)) -> QueueSettings {
        let mut q = QueueSettings {
            name: "sales".into(),
            ..QueueSettings::default()
        };
        f(&mut q);
        q
    }

    fn fields(e: AdminError) -> Vec<(String, Rule)> {
        match e {
            AdminError::Validation(v) => v.into_iter().map(|f| (f.field, f.rule)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upload_is_listed_served_and_published_then_delete_reverts_to_the_builtin() {
        let admin = Admin::in_memory_for_tests();
        let events = admin.subscribe();
        let wav = tone(8_000);
        let (info, created) = admin.put_prompt("welcome", &wav).unwrap();
        assert!(!created, "welcome is built in");
        assert_eq!(info.duration_ms, 1_000);
        assert_eq!(
            events.try_recv().unwrap(),
            ConfigEvent::PromptChanged("welcome".into())
        );
        assert_eq!(admin.prompt("welcome").unwrap(), wav);
        let listed = admin.list_prompts();
        let w = listed.iter().find(|p| p.name == "welcome").unwrap();
        assert_eq!(w.source, PromptSource::Uploaded);
        assert!(listed
            .iter()
            .any(|p| p.name == "moh" && p.source == PromptSource::Builtin));

        admin.delete_prompt("welcome").unwrap();
        assert_eq!(
            events.try_recv().unwrap(),
            ConfigEvent::PromptChanged("welcome".into())
        );
        let back = wav::parse(&admin.prompt("welcome").unwrap()).unwrap();
        assert_eq!(back, builtin::builtin_samples("welcome").unwrap());
        assert!(matches!(
            admin.delete_prompt("welcome"),
            Err(AdminError::NotFound { .. })
        ));
        assert!(matches!(
            admin.delete_prompt("nope"),
            Err(AdminError::NotFound { .. })
        ));
    }

    #[test]
    fn a_new_name_is_created_and_its_samples_are_served() {
        let admin = Admin::in_memory_for_tests();
        let (_, created) = admin.put_prompt("spring_sale", &tone(400)).unwrap();
        assert!(created);
        assert_eq!(admin.prompt_samples("spring_sale").unwrap().len(), 400);
        assert_eq!(admin.uploaded_prompts(), vec!["spring_sale".to_owned()]);
        let (_, again) = admin.put_prompt("spring_sale", &tone(800)).unwrap();
        assert!(!again);
    }

    #[test]
    fn bad_audio_names_and_sizes_are_refused() {
        let admin = Admin::in_memory_for_tests();
        let e = admin.put_prompt("x", b"hello").unwrap_err();
        assert_eq!(fields(e), vec![("body".to_owned(), rules::AUDIO_FORMAT)]);
        let e = admin.put_prompt("Bad Name", &tone(10)).unwrap_err();
        assert_eq!(fields(e), vec![("name".to_owned(), rules::CHARSET)]);
        let big = vec![0u8; PROMPT_MAX_BYTES + 1];
        assert!(matches!(
            admin.put_prompt("big", &big),
            Err(AdminError::TooLarge { .. })
        ));
        assert!(admin.uploaded_prompts().is_empty());
    }

    #[test]
    fn queues_may_name_only_existing_prompts() {
        let admin = Admin::in_memory_for_tests();
        let e = admin
            .create_queue(queue_with(|q| q.hold_audio = "jazz".into()))
            .unwrap_err();
        assert_eq!(fields(e), vec![("hold_audio".to_owned(), rules::EXISTS)]);
        let e = admin
            .create_queue(queue_with(|q| q.welcome_prompt = Some("hello".into())))
            .unwrap_err();
        assert_eq!(
            fields(e),
            vec![("welcome_prompt".to_owned(), rules::EXISTS)]
        );
        admin.put_prompt("jazz", &tone(100)).unwrap();
        let q = admin
            .create_queue(queue_with(|q| q.hold_audio = "jazz".into()))
            .unwrap();
        assert_eq!(q.settings.hold_audio, "jazz");
        // In use: refused until the queue plays something else.
        assert!(matches!(
            admin.delete_prompt("jazz"),
            Err(AdminError::Conflict { .. })
        ));
        admin
            .update_queue(
                q.id,
                QueuePatch {
                    hold_audio: Some("ringback".into()),
                    ..QueuePatch::default()
                },
            )
            .unwrap();
        admin.delete_prompt("jazz").unwrap();
    }

    #[test]
    fn uploads_survive_reopening_the_store() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let open = || {
            Admin::open(
                store.clone(),
                AdminOptions {
                    hash_cost: HashCost::insecure_for_tests(),
                    rng_seed: Some(1),
                },
            )
            .unwrap()
        };
        open().put_prompt("jazz", &tone(1_600)).unwrap();
        let again = open();
        assert_eq!(again.uploaded_prompts(), vec!["jazz".to_owned()]);
        let info = again
            .list_prompts()
            .into_iter()
            .find(|p| p.name == "jazz")
            .unwrap();
        assert_eq!(info.duration_ms, 200);
    }
}
